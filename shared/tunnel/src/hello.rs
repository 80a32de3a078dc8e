//! The agent's hello on its control stream, and the gateway's answer.

use std::time::Duration;

use hopgate_protocol::{Frame, Hello, HelloAck};
use tokio::io::AsyncRead;

use crate::{FrameReader, FrameWriter, TunnelError, WriteChunks};

/// How long either side waits for the other's part of the handshake.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Agent side: sends the hello and waits for the answer.
pub async fn agent_hello<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    hello: Hello,
) -> Result<HelloAck, TunnelError>
where
    R: AsyncRead + Unpin,
    W: WriteChunks,
{
    writer.send(&Frame::Hello(hello)).await?;
    match next_within_timeout(reader, "hello_ack").await? {
        Frame::HelloAck(ack) => Ok(ack),
        other => Err(unexpected("hello_ack", &other)),
    }
}

/// Gateway side: reads the agent's hello.
pub async fn read_hello<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
) -> Result<Hello, TunnelError> {
    match next_within_timeout(reader, "hello").await? {
        Frame::Hello(hello) => Ok(hello),
        other => Err(unexpected("hello", &other)),
    }
}

/// The next frame within [`HELLO_TIMEOUT`]; the stream ending first is an error.
async fn next_within_timeout<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
    expected: &'static str,
) -> Result<Frame, TunnelError> {
    match tokio::time::timeout(HELLO_TIMEOUT, reader.next()).await {
        Err(_) => Err(TunnelError::Timeout(HELLO_TIMEOUT)),
        Ok(Ok(Some(frame))) => Ok(frame),
        Ok(Ok(None)) => Err(TunnelError::Unexpected {
            expected,
            got: "end of stream",
        }),
        Ok(Err(err)) => Err(err),
    }
}

fn unexpected(expected: &'static str, got: &Frame) -> TunnelError {
    TunnelError::Unexpected {
        expected,
        got: got.frame_type().name(),
    }
}

/// Gateway side: sends the answer.
pub async fn answer_hello<W: WriteChunks>(
    writer: &mut FrameWriter<W>,
    ack: HelloAck,
) -> Result<(), TunnelError> {
    writer.send(&Frame::HelloAck(ack)).await
}
