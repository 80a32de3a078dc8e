//! Errors of framed I/O on a stream.

use hopgate_protocol::{DecodeError, EncodeError};

/// A framed read or write failed.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    /// The peer sent bytes that aren't a valid frame.
    #[error("malformed frame from the peer: {0}")]
    Decode(#[from] DecodeError),
    /// We were asked to send a frame over the limits.
    #[error("frame refused by the encoder: {0}")]
    Encode(#[from] EncodeError),
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame ({0} bytes of it received)")]
    Truncated(usize),
    /// The stream or its session failed.
    #[error("stream failed: {0}")]
    Io(#[from] std::io::Error),
    /// The peer didn't answer in time.
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The peer sent a valid frame that doesn't belong here.
    #[error("unexpected {got} frame (expected {expected})")]
    Unexpected {
        /// What the protocol expected.
        expected: &'static str,
        /// What came.
        got: &'static str,
    },
}
