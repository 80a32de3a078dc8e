//! The agent's hello on its control stream, and the gateway's answer.

use std::time::Duration;

use hopgate_protocol::{Frame, Hello, HelloAck};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{FrameReader, FrameWriter, TunnelError};

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
    W: AsyncWrite + Unpin,
{
    writer.send(&Frame::Hello(hello)).await?;
    match tokio::time::timeout(HELLO_TIMEOUT, reader.next()).await {
        Err(_) => Err(TunnelError::Timeout(HELLO_TIMEOUT)),
        Ok(Ok(Some(Frame::HelloAck(ack)))) => Ok(ack),
        Ok(Ok(Some(other))) => Err(TunnelError::Unexpected {
            expected: "hello_ack",
            got: other.frame_type().name(),
        }),
        Ok(Ok(None)) => Err(TunnelError::Truncated(0)),
        Ok(Err(err)) => Err(err),
    }
}

/// Gateway side: reads the agent's hello.
pub async fn read_hello<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
) -> Result<Hello, TunnelError> {
    match tokio::time::timeout(HELLO_TIMEOUT, reader.next()).await {
        Err(_) => Err(TunnelError::Timeout(HELLO_TIMEOUT)),
        Ok(Ok(Some(Frame::Hello(hello)))) => Ok(hello),
        Ok(Ok(Some(other))) => Err(TunnelError::Unexpected {
            expected: "hello",
            got: other.frame_type().name(),
        }),
        Ok(Ok(None)) => Err(TunnelError::Truncated(0)),
        Ok(Err(err)) => Err(err),
    }
}

/// Gateway side: sends the answer.
pub async fn answer_hello<W: AsyncWrite + Unpin>(
    writer: &mut FrameWriter<W>,
    ack: HelloAck,
) -> Result<(), TunnelError> {
    writer.send(&Frame::HelloAck(ack)).await
}
