//! HopGate's wire protocol between the agent and the gateway's data-plane.
//!
//! Sans-IO: this crate turns [`Frame`]s into bytes and bytes into frames, and never
//! touches a socket or a runtime. The agent opens one control stream (handshake, pings,
//! go-away) and the gateway opens one bidirectional stream per visitor HTTP request.
//!
//! An agent may hold several sessions for one domain (on distinct pods): every hello of
//! its tunnel carries the same [`Hello::agent_id`], the ack names the pod that answered
//! ([`HelloAck::pod`]), and the agent retires a session it no longer wants with a
//! [`GoAway`] of its own ([`GoAwayCode::Leaving`]): the pod routes it nothing new and
//! closes it once its requests are over. All three are optional fields or codes that
//! older peers ignore or read as unknown.
//!
//! # Layout
//!
//! | module | concern |
//! | --- | --- |
//! | `frame` | [`FrameType`] (the type byte) and [`Frame`] (any decoded frame) |
//! | `handshake` | [`Hello`], [`HelloAck`], [`HelloCode`]: the control-stream handshake |
//! | `http` | [`RequestHead`], [`ResponseHead`], [`Header`], [`HttpVersion`], [`EndOfBody`] |
//! | `hop_by_hop` | [`HOP_BY_HOP_HEADERS`], [`PROXY_AUTH_HEADERS`]: headers that never cross the tunnel (but `te: trailers`, [`te_lists_trailers`]) |
//! | `control` | [`Reset`] and [`ResetCode`], [`Ping`], [`Pong`], [`GoAway`] |
//! | `limits` | [`Limits`]: the largest payload per frame class, and their defaults |
//! | `version` | [`PROTOCOL_VERSION`], [`MIN_PROTOCOL_VERSION`], [`check_version`] |
//! | `encode` | [`Encoder`]: frame to bytes, refusing frames over the limits |
//! | `decode` | [`Decoder`]: bytes to frame, distinguishing incomplete from invalid |
//! | `head_wire` | the head frames' MessagePack written and read by hand, in serde's exact form |
//! | `stream` | [`Exchange`], [`RequestSide`], [`ResponseSide`]: the order of frames on a request stream, sans-IO |
//! | `error` | [`DecodeError`], [`EncodeError`], [`VersionError`], [`StreamError`] |
//! | `wire_enum` | helper macro for enums sent as strings (codes, HTTP version) |
//!
//! # Framing
//!
//! Every frame is a 5-byte header followed by a payload:
//!
//! ```text
//! +-----------+-------------------------------+-------------------------+
//! | type (u8) | payload length (u32, big-end) | payload (length bytes)  |
//! +-----------+-------------------------------+-------------------------+
//! ```
//!
//! Type bytes: `0x01` Hello, `0x02` HelloAck, `0x03` RequestHead, `0x04` ResponseHead,
//! `0x05` BodyChunk, `0x06` EndOfBody, `0x07` Reset, `0x08` Ping, `0x09` Pong, `0x0a`
//! GoAway (see [`FrameType`]). `0x00` is never a frame type.
//!
//! - [`Frame::BodyChunk`]'s payload is the raw body bytes, so bulk data is never
//!   re-encoded; [`Encoder::encode_body_chunk_header`] lets a writer send the header and
//!   then the data `Bytes` without copying, and the decoder splits the data off the read
//!   buffer without copying.
//! - Every other frame's payload is one MessagePack map with named fields (written by
//!   `rmp_serde::encode::write_named`; the head frames by hand in the same form,
//!   `head_wire`). Unknown fields are ignored, so fields can be added later without a
//!   version bump (declare new fields `#[serde(default)]`, and read them in `head_wire`). Codes
//!   ([`HelloCode`], [`ResetCode`]) travel as snake_case strings; a code this build does not
//!   know decodes as `Unknown`.
//!
//! # Streams
//!
//! On a request stream each direction carries a head, body chunks, `EndOfBody` and the
//! FIN, a `Reset` may end the exchange anywhere, and a `101` answer to an upgrade request
//! turns both directions into a byte pipe. [`stream`] holds these rules as state machines
//! that each end feeds with the frames it sends and receives.
//!
//! # Limits and errors
//!
//! Each frame class has a payload limit in [`Limits`] (control 16 KiB, heads 64 KiB, body
//! chunks 256 KiB by default). The decoder rejects an unknown type byte as soon as it
//! arrives and an over-limit length as soon as the header is complete, before waiting for
//! (and buffering) the payload. An over-limit head is a distinct error
//! ([`DecodeError::HeadTooLarge`], [`EncodeError::HeadTooLarge`]) so the data-plane can
//! answer 431/413. Headers are limited by their size only: a head holds at most
//! [`Limits::max_head_fields`] fields because each takes at least [`MIN_ENCODED_HEADER`]
//! bytes (a field is read only as the map the encoder writes, never as a shorter array).
//! Decoding never panics, whatever the input. A head's values are slices of one copy of
//! its payload, and common header names are static ([`header_name`]): decoding a head
//! allocates once for its values, not once or twice per field.
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use hopgate_protocol::{Decoder, Encoder, Frame, Limits, Ping};
//!
//! let encoder = Encoder::new(Limits::default());
//! let decoder = Decoder::new(Limits::default());
//!
//! let mut wire = BytesMut::new();
//! encoder.encode(&Frame::Ping(Ping { nonce: 7 }), &mut wire)?;
//!
//! // Bytes arrive in pieces: a partial frame is "not yet", not an error.
//! let mut buf = BytesMut::from(&wire[..3]);
//! assert_eq!(decoder.decode(&mut buf)?, None);
//! buf.extend_from_slice(&wire[3..]);
//! assert_eq!(decoder.decode(&mut buf)?, Some(Frame::Ping(Ping { nonce: 7 })));
//! assert!(buf.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod control;
mod decode;
mod encode;
mod error;
mod frame;
mod handshake;
mod head_wire;
mod header_field;
mod hop_by_hop;
mod http;
mod known_names;
mod limits;
mod silent;
pub mod stream;
mod value_len;
mod version;
mod wire_enum;

pub use crate::control::{GoAway, GoAwayCode, Ping, Pong, Reset, ResetCode};
pub use crate::decode::{Decoder, FrameHeader};
pub use crate::encode::Encoder;
pub use crate::error::{DecodeError, EncodeError, StreamError, VersionError};
pub use crate::frame::{FRAME_HEADER_LEN, Frame, FrameType};
pub use crate::handshake::{Hello, HelloAck, HelloCode, MAX_AGENT_ID_LEN};
pub use crate::hop_by_hop::{
    HOP_BY_HOP_HEADERS, PROXY_AUTH_HEADERS, is_hop_by_hop, is_proxy_auth, te_lists_trailers,
};
pub use crate::http::{
    EndOfBody, Header, HttpVersion, REDACTED_HEADERS, RequestHead, ResponseHead,
};
pub use crate::known_names::{header_name, known_name};
pub use crate::limits::{
    DEFAULT_MAX_BODY_CHUNK, DEFAULT_MAX_CONTROL_FRAME, DEFAULT_MAX_HEAD_FRAME, Limits,
    MIN_ENCODED_HEADER,
};
pub use crate::silent::{MAX_SILENT_SESSIONS, SessionRef};
pub use crate::stream::{
    BodyEvent, End, Exchange, Opening, RequestSide, ResponseSide, STREAM_CANCELLED, Side,
    SideState, StreamHead, Upgrade,
};
pub use crate::version::{MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, check_version};
