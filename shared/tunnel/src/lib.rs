//! Async glue between the wire protocol ([`hopgate_protocol`], sans-IO) and the stream
//! transport ([`hopgate_transport`]): frames read from and written to one stream, and the
//! agent's hello on its control stream. Both the data-plane and the agent use it, so the
//! two ends can't drift apart.
//!
//! # Layout
//!
//! - `framed`: [`FrameReader`] over any `AsyncRead`, [`FrameWriter`] over a
//!   [`WriteChunks`] stream (a transport stream takes body chunks without a copy).
//! - `hello`: [`agent_hello`] (agent side) and [`read_hello`] / [`answer_hello`] (gateway
//!   side), each with its timeout.
//! - `error`: [`TunnelError`].

mod chunks;
mod error;
mod framed;
mod hello;

pub use chunks::WriteChunks;
pub use error::TunnelError;
pub use framed::{FrameReader, FrameWriter};
pub use hello::{HELLO_TIMEOUT, agent_hello, answer_hello, read_hello};
