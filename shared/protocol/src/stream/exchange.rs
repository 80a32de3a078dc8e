//! [`Exchange`]: both directions of one stream, as one end sees them.

use crate::error::StreamError;
use crate::frame::Frame;
use crate::stream::directions::{RequestSide, ResponseSide};
use crate::stream::side::SideState;

/// Which end of a stream an [`Exchange`] runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// The gateway: sends the request, reads the answer.
    Gateway,
    /// The agent: reads the request, sends the answer.
    Agent,
}

/// Both directions of one stream at one end, kept in step: the request's head tells the
/// response direction whether a `101` is allowed, a `101` turns both directions into a
/// byte pipe, and a `Reset` either way ends both.
///
/// Feed it every frame this end sends ([`send`](Self::send), before writing it) and
/// receives ([`receive`](Self::receive)), and each direction's FIN. An end that drives the
/// two directions in different tasks takes them apart with
/// [`into_sides`](Self::into_sides) and keeps them in step itself (see
/// [`Side::learn_upgrade`](crate::Side::learn_upgrade)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    end: End,
    request: RequestSide,
    response: ResponseSide,
}

impl Exchange {
    /// A fresh stream at `end`: nothing sent or received yet.
    pub const fn new(end: End) -> Self {
        Self {
            end,
            request: RequestSide::new(),
            response: ResponseSide::new(),
        }
    }

    /// The end this exchange runs at.
    pub const fn end(&self) -> End {
        self.end
    }

    /// The request direction (gateway to agent).
    pub const fn request(&self) -> &RequestSide {
        &self.request
    }

    /// The response direction (agent to gateway).
    pub const fn response(&self) -> &ResponseSide {
        &self.response
    }

    /// Whether both directions are closed (complete or abandoned).
    pub const fn is_over(&self) -> bool {
        self.request.state().is_closed() && self.response.state().is_closed()
    }

    /// A frame this end is about to send; the state of the direction it goes on.
    pub fn send(&mut self, frame: &Frame) -> Result<SideState, StreamError> {
        match self.end {
            End::Gateway => self.on_request(frame),
            End::Agent => self.on_response(frame),
        }
    }

    /// A frame this end received.
    pub fn receive(&mut self, frame: &Frame) -> Result<SideState, StreamError> {
        match self.end {
            End::Gateway => self.on_response(frame),
            End::Agent => self.on_request(frame),
        }
    }

    /// This end finishes its sending direction.
    pub fn send_fin(&mut self) -> Result<SideState, StreamError> {
        match self.end {
            End::Gateway => self.request.on_fin(),
            End::Agent => self.response.on_fin(),
        }
    }

    /// The peer finished its sending direction.
    pub fn receive_fin(&mut self) -> Result<SideState, StreamError> {
        match self.end {
            End::Gateway => self.response.on_fin(),
            End::Agent => self.request.on_fin(),
        }
    }

    /// The stream was reset at the transport level, or broke: both directions are over.
    pub fn abandon(&mut self) {
        self.request.abandon();
        self.response.abandon();
    }

    /// The two directions, to be driven apart.
    pub const fn into_sides(self) -> (RequestSide, ResponseSide) {
        (self.request, self.response)
    }

    fn on_request(&mut self, frame: &Frame) -> Result<SideState, StreamError> {
        let state = self.request.on_frame(frame)?;
        match frame {
            Frame::RequestHead(_) => self.response.learn_upgrade(self.request.upgrade()),
            Frame::Reset(_) => self.response.abandon(),
            _ => {}
        }
        Ok(state)
    }

    fn on_response(&mut self, frame: &Frame) -> Result<SideState, StreamError> {
        let state = self.response.on_frame(frame)?;
        match frame {
            Frame::ResponseHead(_) => self.request.learn_upgrade(self.response.upgrade()),
            Frame::Reset(_) => self.request.abandon(),
            _ => {}
        }
        Ok(state)
    }
}
