//! The control stream: the first stream of a session, opened by the agent. It carries the
//! hello handshake, then the gateway's pings (answered at once) and its go-away, and the
//! agent's own `leaving` go-away when it retires the session.

use std::time::Duration;

use hopgate_protocol::{Frame, GoAway, Hello, HelloAck, Limits};
use hopgate_transport::{RecvStream, SendStream, Session, SessionError};
use hopgate_tunnel::{FrameReader, FrameWriter, TunnelError, agent_hello};

/// The hello failed before the gateway answered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HelloError {
    /// The control stream couldn't be opened.
    #[error("opening the control stream: {0}")]
    Open(#[from] SessionError),
    /// The handshake broke: no answer in time, the stream failed, or a wrong frame.
    #[error("hello: {0}")]
    Handshake(#[from] TunnelError),
}

/// What the control stream says next.
#[derive(Debug)]
pub(crate) enum ControlEvent {
    /// The gateway is about to restart: connect again now; streams in flight may finish
    /// within the drain period.
    GoAway(GoAway),
    /// The control stream is over (closed, broken, or the session died), with why.
    Ended(String),
}

/// The agent's end of an established control stream.
#[derive(Debug)]
pub(crate) struct Control {
    reader: FrameReader<RecvStream>,
    writer: FrameWriter<SendStream>,
}

impl Control {
    /// Opens the control stream and says hello; the gateway's answer, whatever it is.
    pub(crate) async fn hello(
        session: &Session,
        hello: Hello,
    ) -> Result<(Self, HelloAck), HelloError> {
        let (send, recv) = session.open_stream().await?;
        let limits = Limits::default();
        let mut control = Self {
            reader: FrameReader::for_small_frames(recv, limits),
            writer: FrameWriter::for_small_frames(send, limits),
        };
        let ack = agent_hello(&mut control.reader, &mut control.writer, hello).await?;
        Ok((control, ack))
    }

    /// Answers pings until something the tunnel must act on happens.
    pub(crate) async fn next_event(&mut self) -> ControlEvent {
        loop {
            let frame = match self.reader.next().await {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    return ControlEvent::Ended("the gateway closed the control stream".into());
                }
                Err(err) => return ControlEvent::Ended(format!("control stream: {err}")),
            };
            match frame {
                Frame::Ping(ping) => {
                    if let Err(err) = self.writer.send(&Frame::Pong(ping.pong())).await {
                        return ControlEvent::Ended(format!("control stream: {err}"));
                    }
                }
                Frame::GoAway(go_away) => return ControlEvent::GoAway(go_away),
                // We send no pings (the transport's keepalives watch the session), but a
                // pong is harmless.
                Frame::Pong(_) => {}
                other => {
                    return ControlEvent::Ended(format!(
                        "unexpected {} frame on the control stream",
                        other.frame_type()
                    ));
                }
            }
        }
    }

    /// Tells the gateway this session is leaving: it routes no new request to it and
    /// closes it once the requests in flight are over.
    pub(crate) async fn leave(&mut self, why: &str) -> Result<(), TunnelError> {
        self.writer.send(&Frame::GoAway(GoAway::leaving(why))).await
    }

    /// Keeps answering pings while a session drains after a go-away; returns when `drain`
    /// has passed (not earlier, even if the gateway closes the control stream: requests in
    /// flight may still finish).
    pub(crate) async fn drain(mut self, drain: Duration) {
        let _ = tokio::time::timeout(drain, async {
            while let ControlEvent::GoAway(_) = self.next_event().await {}
            std::future::pending::<()>().await;
        })
        .await;
    }
}
