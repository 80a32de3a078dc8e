//! The rules of a request stream, sans-IO: which frame may follow which, in each
//! direction, and how the two directions affect each other.
//!
//! The gateway opens one bidirectional stream per visitor request. Each direction
//! carries, in order:
//!
//! ```text
//! head  →  BodyChunk*  →  EndOfBody (trailers)  →  FIN
//! ```
//!
//! - A `Reset` may come at any point before the FIN, either way; it abandons the whole
//!   exchange, so nothing more is sent either way (the FIN may still close the stream).
//! - The request's head comes first: the agent cannot answer a request it has not read.
//! - A request whose head carries an `upgrade` header asks a protocol switch
//!   (WebSocket). Only it may be answered `101 Switching Protocols`; that answer turns
//!   both directions into a raw byte pipe: the chunks are the switched protocol's bytes,
//!   and each direction's `EndOfBody` says its end closed its side. Any other answer
//!   declines the switch. Every other answer carries a final status (200 to 999).
//! - After the FIN (or a `Reset`) the direction takes nothing more.
//!
//! When a Reset frame cannot be sent (the stream broke, or a frame is half written), an
//! end resets the stream at the transport level with [`STREAM_CANCELLED`].
//!
//! # Layout
//!
//! | module | concern |
//! | --- | --- |
//! | `side` | [`Side`] (one direction's rules), [`SideState`], received frames as [`Opening`] and [`BodyEvent`] |
//! | `directions` | [`RequestSide`] and [`ResponseSide`], and how each starts |
//! | `head` | [`StreamHead`]: what differs between the directions (the head's checks) |
//! | `upgrade` | [`Upgrade`]: what is known of a protocol switch |
//! | `exchange` | [`Exchange`]: both directions at one [`End`], kept in step |
//!
//! # Driving it
//!
//! Nothing here reads or writes: an end feeds each frame it is about to write, and each
//! frame it read, and gets back the direction's next state or a [`StreamError`]. An end
//! that owns both directions in one place uses an [`Exchange`]; one that reads and writes
//! in different tasks gives each task its [`Side`] and keeps them in step with
//! [`Side::learn_upgrade`].
//!
//! ```
//! use hopgate_protocol::{
//!     End, EndOfBody, Exchange, Frame, Header, HttpVersion, RequestHead, ResponseHead,
//!     SideState, StreamError,
//! };
//!
//! let head = RequestHead {
//!     request_id: "r1".into(),
//!     method: "GET".into(),
//!     uri: "/".into(),
//!     version: HttpVersion::Http11,
//!     headers: vec![Header::new("host", "app.example.com")],
//! };
//! let mut gateway = Exchange::new(End::Gateway);
//! gateway.send(&Frame::RequestHead(head))?;
//! gateway.send(&Frame::EndOfBody(EndOfBody::default()))?;
//! gateway.send_fin()?;
//!
//! // The request asked no protocol switch: a 101 answer breaks the rules.
//! let switch = Frame::ResponseHead(ResponseHead { status: 101, headers: vec![] });
//! assert_eq!(gateway.receive(&switch), Err(StreamError::SwitchNotAsked));
//!
//! let ok = Frame::ResponseHead(ResponseHead { status: 200, headers: vec![] });
//! assert_eq!(gateway.receive(&ok)?, SideState::Body);
//! # Ok::<(), StreamError>(())
//! ```

mod directions;
mod exchange;
mod head;
mod side;
mod upgrade;

pub use self::directions::{RequestSide, ResponseSide};
pub use self::exchange::{End, Exchange};
pub use self::head::StreamHead;
pub use self::side::{BodyEvent, Opening, Side, SideState};
pub use self::upgrade::Upgrade;

/// The code an end resets a stream with at the transport level (a QUIC `RESET_STREAM` or
/// `STOP_SENDING`) when it abandons the exchange without a [`Reset`](crate::Reset) frame:
/// the visitor went away, the visitor's body stalled, the stream broke or the peer reset
/// it first. Both ends use this value.
pub const STREAM_CANCELLED: u32 = 1;
