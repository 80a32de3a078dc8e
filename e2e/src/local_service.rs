//! The developer's local service behind the agent: an actix-web server on its own thread.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

/// What each running service has seen, by address.
static SEEN: LazyLock<Mutex<HashMap<SocketAddr, Arc<Seen>>>> = LazyLock::new(Mutex::default);

/// What one service counted.
#[derive(Default)]
pub struct Seen {
    /// `/slow` requests begun.
    pub slow_started: AtomicUsize,
    /// `/echo` requests answered (any method).
    pub echoes: AtomicUsize,
    /// `/upload` requests begun: counted as their head arrives, before the body is read.
    pub uploads_begun: AtomicUsize,
}

/// Serves: `/echo` (any method: method, query, body length and SHA-256 in headers),
/// `/bytes/{n}` (n bytes of a pattern, streamed), `/status/{code}`, `/slow` (10 s, counted:
/// [`slow_requests_started`]), `/upload` (reads the body, answers its length),
/// `/events/{n}` (n server-sent events, 100 ms apart). What it saw: [`seen_by`].
pub fn start_local_service(addr: SocketAddr) -> SocketAddr {
    serve_local(std::net::TcpListener::bind(addr).unwrap())
}

/// [`start_local_service`] on a listener the test already holds (a port that was closed
/// until now: [`hopgate_test_support::ClosedPort::open`]).
pub fn serve_local(listener: std::net::TcpListener) -> SocketAddr {
    let bound = listener.local_addr().unwrap();
    let seen = web::Data::new(Seen::default());
    SEEN.lock()
        .unwrap()
        .insert(bound, seen.clone().into_inner());
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .app_data(seen.clone())
                    .route("/echo", web::to(echo))
                    .route("/bytes/{n}", web::to(bytes))
                    .route("/status/{code}", web::to(status))
                    .route("/slow", web::get().to(slow))
                    .route("/upload", web::post().to(upload))
                    .route("/events/{n}", web::get().to(events))
            })
            .workers(1)
            .listen(listener)
            .unwrap()
            .run()
            .await
            .unwrap();
        });
    });
    bound
}

async fn echo(req: HttpRequest, mut body: web::Payload, seen: web::Data<Seen>) -> HttpResponse {
    seen.echoes.fetch_add(1, Ordering::SeqCst);
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        len += chunk.len() as u64;
        hasher.update(&chunk);
    }
    let seen: Vec<String> = req
        .headers()
        .iter()
        .map(|(n, v)| format!("{}: {}", n, v.to_str().unwrap_or("?")))
        .collect();
    HttpResponse::Ok()
        .insert_header(("x-method", req.method().as_str()))
        .insert_header(("x-query", req.query_string()))
        .insert_header(("x-body-len", len.to_string()))
        .insert_header(("x-body-sha256", hex::encode(hasher.finalize())))
        .append_header(("set-cookie", "a=1"))
        .append_header(("set-cookie", "b=2"))
        .body(seen.join("\n"))
}

/// The byte at offset `i` of every `/bytes/{n}` body.
pub fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// Reads the rest of a `/bytes/{size}` answer after `received`, and checks that all of it
/// came, byte for byte.
pub async fn finish_bytes_download(
    mut download: reqwest::Response,
    mut received: Vec<u8>,
    size: u64,
) {
    while let Some(chunk) = download.chunk().await.unwrap() {
        received.extend_from_slice(&chunk);
    }
    assert_eq!(received.len() as u64, size);
    assert!(
        received
            .iter()
            .enumerate()
            .all(|(i, b)| *b == pattern(i as u64)),
        "the download is intact"
    );
}

async fn bytes(path: web::Path<u64>) -> HttpResponse {
    let total = path.into_inner();
    let stream = futures_util::stream::unfold(0u64, move |sent| async move {
        if sent >= total {
            return None;
        }
        let n = (total - sent).min(64 * 1024);
        let chunk: Vec<u8> = (sent..sent + n).map(pattern).collect();
        Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), sent + n))
    });
    HttpResponse::Ok().no_chunking(total).streaming(stream)
}

async fn status(path: web::Path<u16>) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(path.into_inner()).unwrap()).finish()
}

/// How many `/slow` requests the service at `addr` has begun to answer: a request in
/// flight through the whole path once this counts it.
pub fn slow_requests_started(addr: SocketAddr) -> usize {
    seen_by(addr).slow_started.load(Ordering::SeqCst)
}

/// What the service at `addr` has seen so far.
pub fn seen_by(addr: SocketAddr) -> Arc<Seen> {
    SEEN.lock().unwrap().get(&addr).cloned().unwrap_or_default()
}

/// Counts the upload as soon as its head is here, then reads the body whole.
async fn upload(mut body: web::Payload, seen: web::Data<Seen>) -> HttpResponse {
    seen.uploads_begun.fetch_add(1, Ordering::SeqCst);
    let mut len = 0u64;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => len += chunk.len() as u64,
            Err(_) => return HttpResponse::BadRequest().finish(),
        }
    }
    HttpResponse::Ok().body(len.to_string())
}

async fn slow(seen: web::Data<Seen>) -> HttpResponse {
    seen.slow_started.fetch_add(1, Ordering::SeqCst);
    // A slow service is the point: requests in flight while something else happens.
    actix_web::rt::time::sleep(Duration::from_secs(10)).await;
    HttpResponse::Ok().body("finally")
}

/// Server-sent events `data: 0` … `data: n-1`, one every 100 ms: each must reach the
/// visitor when it is sent, not when the answer ends.
async fn events(path: web::Path<u32>) -> HttpResponse {
    let total = path.into_inner();
    let stream = futures_util::stream::unfold(0u32, move |sent| async move {
        if sent >= total {
            return None;
        }
        if sent > 0 {
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        let event = bytes::Bytes::from(format!("data: {sent}\n\n"));
        Some((Ok::<_, std::io::Error>(event), sent + 1))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(stream)
}
