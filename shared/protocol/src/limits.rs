//! Size limits, one per frame class. Every limit is on the payload (the bytes after the
//! 5-byte frame header).

use crate::frame::{FrameClass, FrameType};

/// Default [`Limits::max_control_frame`]: 16 KiB.
pub const DEFAULT_MAX_CONTROL_FRAME: usize = 16 * 1024;
/// Default [`Limits::max_head_frame`]: 64 KiB.
pub const DEFAULT_MAX_HEAD_FRAME: usize = 64 * 1024;
/// Default [`Limits::max_body_chunk`]: 256 KiB.
pub const DEFAULT_MAX_BODY_CHUNK: usize = 256 * 1024;
/// The fewest payload bytes one header field adds to a head: a one-byte name and an empty
/// value, as a MessagePack map of `name` and `value` (1 + 5 + 2 + 6 + 2 bytes).
pub const MIN_ENCODED_HEADER: usize = 16;

/// The largest payload accepted (by the decoder) or produced (by the encoder) for each
/// class of frame.
///
/// Both ends should use the same limits (the defaults, unless configured otherwise): a
/// frame the sender's encoder accepts but the receiver's decoder rejects kills the stream.
///
/// There is no separate per-header limit: a head's whole payload, all headers included,
/// is bounded by `max_head_frame`, which already bounds what a peer can make us buffer.
/// Finer HTTP rules (header count, name syntax) are the HTTP layer's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// [`Hello`](crate::Hello), [`HelloAck`](crate::HelloAck), [`Reset`](crate::Reset),
    /// [`Ping`](crate::Ping), [`Pong`](crate::Pong) and [`GoAway`](crate::GoAway).
    pub max_control_frame: usize,
    /// [`RequestHead`](crate::RequestHead) and [`ResponseHead`](crate::ResponseHead),
    /// method, URI and all headers included, and [`EndOfBody`](crate::EndOfBody) with its
    /// trailers. Exceeding it is reported as `HeadTooLarge` so the data-plane can answer
    /// 431 (request) or 502 (response).
    pub max_head_frame: usize,
    /// The data of one [`Frame::BodyChunk`](crate::Frame::BodyChunk). Senders split larger
    /// bodies into several chunks.
    pub max_body_chunk: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_control_frame: DEFAULT_MAX_CONTROL_FRAME,
            max_head_frame: DEFAULT_MAX_HEAD_FRAME,
            max_body_chunk: DEFAULT_MAX_BODY_CHUNK,
        }
    }
}

impl Limits {
    /// The most header fields a head within [`max_head_frame`](Self::max_head_frame) can
    /// hold (4096 by default). HTTP parsers that must be given a count get this one, so that
    /// headers are limited by their size, never by their number.
    pub const fn max_head_fields(&self) -> usize {
        self.max_head_frame / MIN_ENCODED_HEADER
    }

    /// The largest payload allowed for a frame of type `frame_type`.
    pub const fn max_payload(&self, frame_type: FrameType) -> usize {
        match frame_type.class() {
            FrameClass::Control => self.max_control_frame,
            FrameClass::Head => self.max_head_frame,
            FrameClass::Body => self.max_body_chunk,
        }
    }
}
