//! A stand-in agent built from the shared crates: it dials a debug pod, says hello, and
//! serves request streams with a closure, for tests that script a session exactly.

use std::sync::Arc;

use hopgate_protocol::{Frame, Hello, HelloAck, Limits};
use hopgate_transport::{ClientConfig, ServerVerification, Session, TransportConfig};
use hopgate_tunnel::{FrameReader, FrameWriter, agent_hello};

use crate::DataPlane;

/// A stand-in agent: dials, says hello, and returns the session with its control stream.
pub struct FakeAgent {
    pub session: Session,
    pub ack: HelloAck,
    pub control: (
        FrameWriter<hopgate_transport::SendStream>,
        FrameReader<hopgate_transport::RecvStream>,
    ),
}

pub async fn fake_agent(dp: &DataPlane, hello: Hello) -> FakeAgent {
    fake_agent_with(dp, hello, TransportConfig::default()).await
}

/// [`fake_agent`] with its own transport settings (e.g. fewer concurrent streams).
pub async fn fake_agent_with(
    dp: &DataPlane,
    hello: Hello,
    transport: TransportConfig,
) -> FakeAgent {
    let mut config = ClientConfig::new(
        "gw.hopgate.test",
        ServerVerification::Pinned(dp.fingerprint.expect("a debug-mode data-plane")),
    );
    config.transport = transport;
    let session = hopgate_transport::connect(dp.dtls, &config).await.unwrap();
    let (send, recv) = session.open_stream().await.unwrap();
    let mut writer = FrameWriter::new(send, Limits::default());
    let mut reader = FrameReader::new(recv, Limits::default());
    let ack = agent_hello(&mut reader, &mut writer, hello).await.unwrap();
    FakeAgent {
        session,
        ack,
        control: (writer, reader),
    }
}

/// Serves every request stream with `answer(head, body) -> (status, headers, body)`.
pub fn serve<F>(session: Session, answer: F)
where
    F: Fn(hopgate_protocol::RequestHead, Vec<u8>) -> (u16, Vec<(String, String)>, Vec<u8>)
        + Send
        + Sync
        + 'static,
{
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((send, recv)) = session.accept_stream().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut reader = FrameReader::new(recv, Limits::default());
                let mut writer = FrameWriter::new(send, Limits::default());
                let Ok(Some(Frame::RequestHead(head))) = reader.next().await else {
                    return;
                };
                let mut body = Vec::new();
                loop {
                    match reader.next().await {
                        Ok(Some(Frame::BodyChunk(data))) => body.extend_from_slice(&data),
                        Ok(Some(Frame::EndOfBody(_))) => break,
                        _ => return,
                    }
                }
                let (status, headers, out) = answer(head, body);
                let headers = headers
                    .into_iter()
                    .map(|(n, v)| hopgate_protocol::Header::new(n, bytes::Bytes::from(v)))
                    .collect();
                let _ = writer
                    .send(&Frame::ResponseHead(hopgate_protocol::ResponseHead {
                        status,
                        headers,
                    }))
                    .await;
                let _ = writer.send_body(bytes::Bytes::from(out)).await;
                let _ = writer.send(&Frame::EndOfBody(Default::default())).await;
                let _ = writer.get_mut().finish();
            });
        }
    });
}
