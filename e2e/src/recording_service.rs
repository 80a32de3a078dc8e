//! A local service that remembers every request it received (method, path and query,
//! headers, body), for tests that count what reached it: the inspector's replays.
//! Serves `/binary/{n}` (n bytes, not text), `/text/{n}` (n bytes of text), and anything
//! else with `ok` and a `set-cookie`.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// One request as the service received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The running service and what it received.
pub struct RecordingService {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl RecordingService {
    /// Starts on 127.0.0.1, port 0, on its own thread.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = web::Data::from(received.clone());
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    App::new()
                        .app_data(log.clone())
                        .default_service(web::to(answer))
                })
                .workers(1)
                .listen(listener)
                .unwrap()
                .run()
                .await
                .unwrap();
            });
        });
        Self { addr, received }
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The requests received for `target` (path and query).
    pub fn received_for(&self, target: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.target == target)
            .collect()
    }
}

async fn answer(
    req: HttpRequest,
    body: web::Bytes,
    log: web::Data<Mutex<Vec<Received>>>,
) -> HttpResponse {
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    log.lock().unwrap().push(Received {
        method: req.method().to_string(),
        target: target.clone(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    });
    let sized = |prefix: &str| {
        target
            .strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok())
    };
    if let Some(n) = sized("/binary/") {
        let bytes: Vec<u8> = (0..n).map(|i| (i % 256) as u8).collect();
        return HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(bytes);
    }
    if let Some(n) = sized("/text/") {
        return HttpResponse::Ok()
            .content_type("text/plain")
            .body("t".repeat(n));
    }
    HttpResponse::Ok()
        .insert_header(("set-cookie", "session=response-secret"))
        .content_type("text/plain")
        .body(format!("ok {} {target}", req.method()))
}
