//! The local service: a small hyper HTTP/1.1 server with routes for each behaviour the
//! tests need.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::{hex, pattern_pieces};

/// A request as the local service saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub version: http::Version,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

type Body = BoxBody<Bytes, Infallible>;

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    sse_step: Notify,
    forever_dropped: AtomicBool,
    forever_dropped_notify: Notify,
    release: Notify,
    /// TCP connections accepted so far.
    connections: AtomicUsize,
}

/// A small HTTP/1.1 service on 127.0.0.1. Routes:
/// - `/echo...`: records the request; 200, two `Set-Cookie`s, body `METHOD URI`.
/// - `/upload`: hashes the body as it streams in; body `SHA256HEX LEN`.
/// - `/download?bytes=N&seed=S`: streams N bytes of the pattern, chunked.
/// - `/sse`: one event, then one more each time the test calls [`LocalServer::next_event`].
/// - `/hang`: never answers.
/// - `/forever`: a chunk every 20 ms until the body is dropped (noted).
/// - `/held`: answers once the test calls [`LocalServer::release`].
/// - `/slow`: answers after 300 ms.
/// - `/hop`: a response with hop-by-hop headers.
pub struct LocalServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LocalServer {
    pub async fn start() -> Self {
        Self::start_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    pub fn start_on(listener: tokio::net::TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                state.connections.fetch_add(1, Ordering::SeqCst);
                let state = state.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, shared, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// How many TCP connections it has accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    pub fn next_event(&self) {
        self.shared.sse_step.notify_one();
    }

    pub fn release(&self) {
        self.shared.release.notify_one();
    }

    /// Waits until a `/forever` body was dropped (its client went away).
    pub async fn forever_dropped(&self) {
        loop {
            let notified = self.shared.forever_dropped_notify.notified();
            if self.shared.forever_dropped.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into()).boxed()
}

fn channel_body(
    capacity: usize,
) -> (
    mpsc::Sender<Result<hyper::body::Frame<Bytes>, Infallible>>,
    Body,
) {
    let (tx, rx) = mpsc::channel(capacity);
    (tx, StreamBody::new(ReceiverStream::new(rx)).boxed())
}

fn chunk(data: impl Into<Bytes>) -> Result<hyper::body::Frame<Bytes>, Infallible> {
    Ok(hyper::body::Frame::data(data.into()))
}

fn query(uri: &http::Uri, key: &str) -> Option<u64> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.parse().ok()).flatten()
    })
}

/// Records the request, then answers it by its route (see [`LocalServer`]).
async fn handle(state: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let seen = Seen {
        method: req.method().to_string(),
        uri: req.uri().to_string(),
        version: req.version(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    state.seen.lock().unwrap().push(seen.clone());
    let path = req.uri().path().to_owned();
    let response = match path.as_str() {
        p if p.starts_with("/echo") => echo(&seen),
        "/upload" => upload(req.into_body()).await,
        "/download" => download(req.uri()),
        "/sse" => sse(state),
        "/hang" => std::future::pending().await,
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Response::builder().body(full("slow"))
        }
        "/held" => {
            state.release.notified().await;
            Response::builder().body(full("released"))
        }
        "/forever" => forever(state),
        "/hop" => hop_by_hop_headers(),
        _ => Response::builder().status(404).body(full("not found")),
    };
    Ok(response.unwrap())
}

type Built = Result<Response<Body>, http::Error>;

/// 200, two `Set-Cookie`s around another header, body `METHOD URI`.
fn echo(seen: &Seen) -> Built {
    Response::builder()
        .header("set-cookie", "a=1; Path=/")
        .header("x-echo", "yes")
        .header("set-cookie", "b=2; Path=/")
        .body(full(format!("{} {}", seen.method, seen.uri)))
}

/// Hashes the body as it streams in: body `SHA256HEX LEN`, or 400 if the body failed.
async fn upload(mut body: Incoming) -> Built {
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Response::builder().status(400).body(full("body failed"));
        };
        if let Some(data) = frame.data_ref() {
            hasher.update(data);
            len += data.len() as u64;
        }
    }
    Response::builder().body(full(format!("{} {len}", hex(&hasher.finalize()))))
}

/// Streams `bytes` bytes of the pattern from `seed`, chunked.
fn download(uri: &http::Uri) -> Built {
    let bytes = query(uri, "bytes").unwrap_or(0);
    let seed = query(uri, "seed").unwrap_or(0) as u8;
    let (tx, body) = channel_body(4);
    tokio::spawn(async move {
        for piece in pattern_pieces(bytes, seed, 64 * 1024) {
            if tx.send(chunk(piece)).await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .header("content-type", "application/octet-stream")
        .body(body)
}

/// Server-sent events: one at once, then one more per [`LocalServer::next_event`], three
/// in all.
fn sse(state: Arc<Shared>) -> Built {
    let (tx, body) = channel_body(1);
    tokio::spawn(async move {
        for i in 1..=3 {
            if i > 1 {
                state.sse_step.notified().await;
            }
            if tx
                .send(chunk(format!("data: event {i}\n\n")))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(body)
}

/// A chunk every 20 ms until the body is dropped, which is noted.
fn forever(state: Arc<Shared>) -> Built {
    let (tx, body) = channel_body(1);
    tokio::spawn(async move {
        loop {
            if tx.send(chunk("tick\n")).await.is_err() {
                state.forever_dropped.store(true, Ordering::SeqCst);
                state.forever_dropped_notify.notify_waiters();
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    Response::builder().body(body)
}

/// A response with hop-by-hop headers beside one that must be kept.
fn hop_by_hop_headers() -> Built {
    Response::builder()
        .header("connection", "x-private")
        .header("x-private", "secret-hop")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header("x-kept", "yes")
        .body(full("hop"))
}
