//! The gateway stand-in: a real transport `Listener` with a self-signed certificate that
//! reads each hello, answers it, and hands the session to the test; and the gateway's side
//! of a request stream.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use hopgate_protocol::{
    EndOfBody, Frame, Header, Hello, HelloAck, HttpVersion, Limits, PROTOCOL_VERSION, RequestHead,
    Reset, ResponseHead,
};
use hopgate_transport::{Identity, Listener, RecvStream, SendStream, ServerConfig, Session};
use hopgate_tunnel::{FrameReader, FrameWriter, answer_hello, read_hello};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::{DOMAIN, STEP, within};

pub type AckFn = Arc<dyn Fn(&Hello) -> HelloAck + Send + Sync>;

/// A data-plane stand-in: accepts sessions, reads each hello, answers it, and hands the
/// session to the test.
pub struct Gateway {
    listener: Arc<Listener>,
    pub fingerprint: String,
    pub addr: SocketAddr,
    sessions: tokio::sync::Mutex<mpsc::UnboundedReceiver<AgentSession>>,
}

/// One session the agent opened, after its hello.
pub struct AgentSession {
    pub session: Session,
    pub hello: Hello,
    pub control: FrameReader<RecvStream>,
    pub control_out: FrameWriter<SendStream>,
}

impl Gateway {
    /// Accepts every hello.
    pub fn start() -> Self {
        Self::start_with(Arc::new(|hello: &Hello| {
            HelloAck::accepted(hello.domain.clone(), PROTOCOL_VERSION)
        }))
    }

    /// Answers each hello with `ack(hello)`.
    pub fn start_with(ack: AckFn) -> Self {
        let identity = Identity::self_signed(&["gw.hopgate.test".into()]).unwrap();
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let listener =
            Arc::new(Listener::bind(socket, ServerConfig::new(identity.clone())).unwrap());
        let (tx, rx) = mpsc::unbounded_channel();
        let accepting = listener.clone();
        tokio::spawn(async move {
            while let Some(session) = accepting.accept().await {
                let tx = tx.clone();
                let ack = ack.clone();
                tokio::spawn(async move {
                    let Ok(Ok((send, recv))) =
                        tokio::time::timeout(STEP, session.accept_stream()).await
                    else {
                        return;
                    };
                    let mut control = FrameReader::new(recv, Limits::default());
                    let mut control_out = FrameWriter::new(send, Limits::default());
                    let Ok(hello) = read_hello(&mut control).await else {
                        return;
                    };
                    let answer = ack(&hello);
                    if answer_hello(&mut control_out, answer).await.is_err() {
                        return;
                    }
                    session.lift_pre_hello_limits();
                    let _ = tx.send(AgentSession {
                        session,
                        hello,
                        control,
                        control_out,
                    });
                });
            }
        });
        Self {
            addr: listener.local_addr(),
            fingerprint: identity.fingerprint().to_string(),
            listener,
            sessions: tokio::sync::Mutex::new(rx),
        }
    }

    /// The agent's flags to reach this gateway.
    pub fn agent_args(&self) -> Vec<String> {
        [
            "--server",
            &self.addr.to_string(),
            "--fingerprint",
            &self.fingerprint,
            "--debug",
            "--server-name",
            "gw.hopgate.test",
        ]
        .map(String::from)
        .to_vec()
    }

    /// The next session that said hello.
    pub async fn next_session(&self) -> AgentSession {
        self.next_session_within(STEP)
            .await
            .expect("no hello from the agent")
    }

    /// The next session that said hello within `limit`, if any.
    pub async fn next_session_within(&self, limit: Duration) -> Option<AgentSession> {
        let mut sessions = self.sessions.lock().await;
        tokio::time::timeout(limit, sessions.recv())
            .await
            .ok()
            .flatten()
    }
}

/// What came back on a request stream.
#[derive(Debug, Default)]
pub struct Reply {
    pub head: Option<ResponseHead>,
    pub reset: Option<Reset>,
    /// The body, kept while it is under 16 MiB.
    pub body: Vec<u8>,
    pub body_len: u64,
    pub body_sha256: [u8; 32],
    pub chunks: usize,
    pub trailers: Vec<Header>,
    pub ended_cleanly: bool,
}

impl Reply {
    pub fn status(&self) -> u16 {
        match (&self.head, &self.reset) {
            (Some(head), _) => head.status,
            (None, reset) => panic!("no response head; reset: {reset:?}"),
        }
    }

    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.head
            .as_ref()
            .expect("no response head")
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(&h.value).into_owned())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn head(method: &str, uri: &str, headers: &[(&str, &str)]) -> RequestHead {
    let mut all = vec![Header::new("host", DOMAIN)];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| Header::new(n.to_string(), Bytes::copy_from_slice(v.as_bytes()))),
    );
    RequestHead {
        request_id: format!("req-{:08x}", rand::random::<u32>()),
        method: method.into(),
        uri: uri.into(),
        version: HttpVersion::Http11,
        headers: all,
    }
}

/// A request stream: the gateway's writer and reader.
pub struct Exchange {
    pub out: FrameWriter<SendStream>,
    pub reader: FrameReader<RecvStream>,
}

impl Exchange {
    /// Opens a stream and sends the head.
    pub async fn open(session: &Session, head: RequestHead) -> Self {
        let (send, recv) = within("opening a stream", STEP, session.open_stream())
            .await
            .unwrap();
        let mut out = FrameWriter::new(send, Limits::default());
        out.send(&Frame::RequestHead(head)).await.unwrap();
        Self {
            out,
            reader: FrameReader::new(recv, Limits::default()),
        }
    }

    /// Ends the request body and finishes the stream. An agent that refused the request
    /// from its head alone has already reset the stream both ways: the end then has
    /// nowhere to go, and the refusal is in the reply.
    pub async fn end_body(&mut self) {
        let end = Frame::EndOfBody(EndOfBody::default());
        if self.out.send(&end).await.is_ok() {
            let _ = self.out.get_mut().finish();
        }
    }

    /// Reads the whole reply.
    pub async fn reply(&mut self) -> Reply {
        within("reading the reply", STEP * 3, read_reply(&mut self.reader)).await
    }

    /// The next frame.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        within("reading a frame", STEP, self.reader.next())
            .await
            .unwrap()
    }
}

/// A request with a small body, sent at once.
pub async fn request(session: &Session, head: RequestHead, body: &[u8]) -> Reply {
    let mut exchange = Exchange::open(session, head).await;
    if !body.is_empty() {
        exchange
            .out
            .send_body(Bytes::copy_from_slice(body))
            .await
            .unwrap();
    }
    exchange.end_body().await;
    exchange.reply().await
}

pub async fn get(session: &Session, uri: &str) -> Reply {
    request(session, head("GET", uri, &[]), b"").await
}

pub async fn read_reply(reader: &mut FrameReader<RecvStream>) -> Reply {
    let mut reply = Reply::default();
    let mut hasher = Sha256::new();
    loop {
        match reader.next().await {
            Ok(Some(Frame::ResponseHead(head))) => {
                assert!(reply.head.is_none(), "two response heads");
                reply.head = Some(head);
            }
            Ok(Some(Frame::BodyChunk(data))) => {
                assert!(reply.head.is_some(), "a body chunk before the head");
                hasher.update(&data);
                reply.body_len += data.len() as u64;
                reply.chunks += 1;
                if reply.body.len() + data.len() <= 16 << 20 {
                    reply.body.extend_from_slice(&data);
                }
            }
            Ok(Some(Frame::EndOfBody(end))) => {
                reply.trailers = end.trailers;
                reply.ended_cleanly = true;
            }
            Ok(Some(Frame::Reset(reset))) => reply.reset = Some(reset),
            Ok(Some(other)) => panic!("unexpected frame {other:?}"),
            Ok(None) => break,
            Err(err) => panic!("the stream failed: {err}"),
        }
    }
    reply.body_sha256 = hasher.finalize().into();
    reply
}
