//! [`Side`]: the rules of one direction of a tunnel stream, whichever end feeds it.
//!
//! A direction carries one head, any number of body chunks, one `EndOfBody` and then the
//! transport's FIN; a `Reset` may come at any point before the FIN. The sender and the
//! receiver of a direction apply the same rules, so one type serves both: the end that
//! writes a frame feeds it before writing, the end that reads one feeds it after reading.

use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;

use crate::control::Reset;
use crate::error::StreamError;
use crate::frame::{Frame, FrameType};
use crate::http::EndOfBody;
use crate::stream::head::StreamHead;
use crate::stream::upgrade::Upgrade;

/// Where one direction of a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SideState {
    /// Nothing yet: the head comes first (or a `Reset`).
    AwaitingHead,
    /// After the head: body chunks, then `EndOfBody`.
    Body,
    /// After a `101` answer to an upgrade request: the chunks are the raw bytes of the
    /// switched protocol, and `EndOfBody` says this direction's end closed its side. Its
    /// trailers carry no meaning and are ignored.
    Pipe,
    /// `EndOfBody` came: only the FIN (or a `Reset`) may follow.
    Ended,
    /// The FIN came after `EndOfBody`: the direction is complete.
    Finished,
    /// A `Reset` (or a transport-level reset) abandoned the exchange.
    Reset,
}

impl SideState {
    /// Whether the direction takes nothing more: complete, or abandoned.
    pub const fn is_closed(self) -> bool {
        matches!(self, Self::Finished | Self::Reset)
    }

    /// Whether body chunks may come now (after the head, before `EndOfBody`).
    pub const fn takes_data(self) -> bool {
        matches!(self, Self::Body | Self::Pipe)
    }

    /// Where the direction is, as a phrase for error messages (`"before the head"`).
    pub const fn phrase(self) -> &'static str {
        match self {
            Self::AwaitingHead => "before the head",
            Self::Body => "in the body",
            Self::Pipe => "in the switched protocol's byte pipe",
            Self::Ended => "after EndOfBody",
            Self::Finished => "after the stream's end",
            Self::Reset => "after a reset",
        }
    }
}

impl fmt::Display for SideState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.phrase())
    }
}

/// A frame received on a direction that still awaits its head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening<H> {
    /// The head: the direction is open.
    Head(H),
    /// The peer abandoned the exchange before sending a head.
    Reset(Reset),
}

/// A frame received on a direction after its head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEvent {
    /// Body bytes (or, in a [`SideState::Pipe`], the switched protocol's bytes).
    Data(Bytes),
    /// The end of the body, with its trailers.
    End(EndOfBody),
    /// The peer abandoned the exchange.
    Reset(Reset),
}

/// The rules of one direction of a tunnel stream: [`RequestSide`] (gateway to agent) or
/// [`ResponseSide`] (agent to gateway).
///
/// Feed it each frame of the direction (`on_*`, [`on_frame`](Self::on_frame), or the
/// `receive_*` methods that also hand the frame's content back) and the FIN
/// ([`on_fin`](Self::on_fin)); each returns the state that follows, or the
/// [`StreamError`] the frame breaks. On an error the state is unchanged, and the stream
/// should be reset.
///
/// Sans-IO and `Copy`: whoever owns the direction's reader or writer owns its `Side`.
///
/// [`RequestSide`]: crate::RequestSide
/// [`ResponseSide`]: crate::ResponseSide
pub struct Side<H> {
    state: SideState,
    upgrade: Upgrade,
    head: PhantomData<fn() -> H>,
}

impl<H> Clone for Side<H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H> Copy for Side<H> {}

impl<H> PartialEq for Side<H> {
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state && self.upgrade == other.upgrade
    }
}

impl<H> Eq for Side<H> {}

impl<H: StreamHead> fmt::Debug for Side<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(H::SIDE_NAME)
            .field("state", &self.state)
            .field("upgrade", &self.upgrade)
            .finish()
    }
}

impl<H: StreamHead> Side<H> {
    /// A direction awaiting its head, knowing `upgrade` of the exchange.
    pub(crate) const fn with_upgrade(upgrade: Upgrade) -> Self {
        Self {
            state: SideState::AwaitingHead,
            upgrade,
            head: PhantomData,
        }
    }

    /// Where the direction is.
    pub const fn state(&self) -> SideState {
        self.state
    }

    /// What the exchange knows of a protocol switch.
    pub const fn upgrade(&self) -> Upgrade {
        self.upgrade
    }

    /// The head. Opens the direction: [`SideState::Body`], or [`SideState::Pipe`] for a
    /// `101` answer to an upgrade request.
    pub fn on_head(&mut self, head: &H) -> Result<SideState, StreamError> {
        self.refuse_if_closed(H::FRAME_TYPE)?;
        if self.state != SideState::AwaitingHead {
            return Err(self.unexpected(H::FRAME_TYPE));
        }
        let (state, upgrade) = head.open(self.upgrade)?;
        self.upgrade = upgrade;
        Ok(self.enter(state))
    }

    /// A body chunk.
    pub fn on_data(&mut self) -> Result<SideState, StreamError> {
        self.refuse_if_closed(FrameType::BodyChunk)?;
        if !self.state.takes_data() {
            return Err(self.unexpected(FrameType::BodyChunk));
        }
        Ok(self.state)
    }

    /// `EndOfBody`.
    pub fn on_end(&mut self) -> Result<SideState, StreamError> {
        self.refuse_if_closed(FrameType::EndOfBody)?;
        if !self.state.takes_data() {
            return Err(self.unexpected(FrameType::EndOfBody));
        }
        Ok(self.enter(SideState::Ended))
    }

    /// A `Reset` frame: allowed at any point before the FIN.
    pub fn on_reset(&mut self) -> Result<SideState, StreamError> {
        self.refuse_if_closed(FrameType::Reset)?;
        Ok(self.enter(SideState::Reset))
    }

    /// The transport's FIN: the direction's end. Complete after `EndOfBody`; after a
    /// `Reset` it only closes the stream; anywhere else the direction was cut off
    /// ([`StreamError::EndedEarly`]).
    pub fn on_fin(&mut self) -> Result<SideState, StreamError> {
        match self.state {
            SideState::Ended => Ok(self.enter(SideState::Finished)),
            SideState::Reset => Ok(SideState::Reset),
            SideState::Finished => Err(StreamError::Closed {
                state: SideState::Finished,
                frame: None,
            }),
            state @ (SideState::AwaitingHead | SideState::Body | SideState::Pipe) => {
                Err(StreamError::EndedEarly { state })
            }
        }
    }

    /// Any frame of this direction, by reference (see the `on_*` methods). Frames that
    /// never travel on a request stream (the other direction's head, control frames) are
    /// [`StreamError::Unexpected`].
    pub fn on_frame(&mut self, frame: &Frame) -> Result<SideState, StreamError> {
        match frame {
            Frame::BodyChunk(_) => self.on_data(),
            Frame::EndOfBody(_) => self.on_end(),
            Frame::Reset(_) => self.on_reset(),
            other => match H::from_frame_ref(other) {
                Some(head) => self.on_head(head),
                None => {
                    self.refuse_if_closed(other.frame_type())?;
                    Err(self.unexpected(other.frame_type()))
                }
            },
        }
    }

    /// A received frame on a direction awaiting its head: its head, or a `Reset`.
    pub fn receive_head(&mut self, frame: Frame) -> Result<Opening<H>, StreamError> {
        if self.state != SideState::AwaitingHead {
            self.refuse_if_closed(frame.frame_type())?;
            return Err(self.unexpected(frame.frame_type()));
        }
        self.on_frame(&frame)?;
        match frame {
            Frame::Reset(reset) => Ok(Opening::Reset(reset)),
            other => H::from_frame(other)
                .map(Opening::Head)
                .map_err(|frame| self.unexpected(frame.frame_type())),
        }
    }

    /// A received frame on a direction after its head: data, its end, or a `Reset`.
    pub fn receive_body(&mut self, frame: Frame) -> Result<BodyEvent, StreamError> {
        if H::from_frame_ref(&frame).is_some() {
            // Never a body event: refused wherever the direction is.
            self.refuse_if_closed(H::FRAME_TYPE)?;
            return Err(self.unexpected(H::FRAME_TYPE));
        }
        self.on_frame(&frame)?;
        match frame {
            Frame::BodyChunk(data) => Ok(BodyEvent::Data(data)),
            Frame::EndOfBody(end) => Ok(BodyEvent::End(end)),
            Frame::Reset(reset) => Ok(BodyEvent::Reset(reset)),
            other => Err(self.unexpected(other.frame_type())),
        }
    }

    /// The exchange was abandoned without a `Reset` frame on this direction: a
    /// transport-level reset or stop, a broken stream, or a `Reset` on the other
    /// direction. Nothing more is accepted (a FIN still closes quietly).
    pub fn abandon(&mut self) {
        if self.state != SideState::Finished {
            self.state = SideState::Reset;
        }
    }

    /// Tells this direction what the other one learnt of a protocol switch (its
    /// [`upgrade`](Self::upgrade)): the request's head says whether a `101` answer is
    /// allowed, and a `101` turns this direction's body into a pipe.
    ///
    /// [`Exchange`](crate::Exchange) does this itself; an end that drives the two
    /// directions apart calls it when the other direction's head went by.
    /// Knowledge only grows: what the request asked is learnt once, and only an asked
    /// switch can become switched or declined.
    pub fn learn_upgrade(&mut self, upgrade: Upgrade) {
        let news = matches!(
            (self.upgrade, upgrade),
            (Upgrade::Unknown, _) | (Upgrade::Asked, Upgrade::Switched | Upgrade::Declined)
        );
        if news {
            self.upgrade = upgrade;
        }
        if self.upgrade == Upgrade::Switched && self.state == SideState::Body {
            self.state = SideState::Pipe;
        }
    }

    fn enter(&mut self, state: SideState) -> SideState {
        self.state = state;
        state
    }

    fn refuse_if_closed(&self, frame: FrameType) -> Result<(), StreamError> {
        match self.state.is_closed() {
            true => Err(StreamError::Closed {
                state: self.state,
                frame: Some(frame),
            }),
            false => Ok(()),
        }
    }

    fn unexpected(&self, frame: FrameType) -> StreamError {
        StreamError::Unexpected {
            frame,
            state: self.state,
        }
    }
}
