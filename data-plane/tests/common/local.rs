//! The developer's local service for end-to-end tests: an actix-web server on its own
//! thread, and the real `hopgate-agent` process in front of it.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{DataPlane, KEY};

/// Serves: `/echo` (any method: method, query, body length and SHA-256 in headers),
/// `/bytes/{n}` (n bytes of a pattern, streamed), `/status/{code}`, `/slow` (10 s).
pub fn start_local_service(addr: SocketAddr) -> SocketAddr {
    let listener = std::net::TcpListener::bind(addr).unwrap();
    let bound = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(|| {
                App::new()
                    .route("/echo", web::to(echo))
                    .route("/bytes/{n}", web::to(bytes))
                    .route("/status/{code}", web::to(status))
                    .route("/slow", web::get().to(slow))
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

async fn echo(req: HttpRequest, mut body: web::Payload) -> HttpResponse {
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

pub fn pattern(i: u64) -> u8 {
    (i % 251) as u8
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

async fn slow() -> HttpResponse {
    actix_web::rt::time::sleep(Duration::from_secs(10)).await;
    HttpResponse::Ok().body("finally")
}

/// The real agent binary, built next to this test's binary by the workspace build.
pub fn agent_binary() -> std::path::PathBuf {
    super::workspace_binary("hopgate-agent")
}

pub struct Agent {
    pub child: Child,
    pub output: Arc<Mutex<Vec<String>>>,
    /// The agent's JSON log lines (stdout).
    pub logs: Arc<Mutex<Vec<String>>>,
    connected: std::sync::mpsc::Receiver<()>,
}

impl Agent {
    pub fn start(dp: &DataPlane, domain: &str, target: SocketAddr) -> Self {
        Self::start_with_key(dp, domain, target, KEY)
    }

    /// The agent for `domain` with its own API `key`, pinning the debug certificate.
    pub fn start_with_key(dp: &DataPlane, domain: &str, target: SocketAddr, key: &str) -> Self {
        let fingerprint = dp.fingerprint.expect("a debug-mode data-plane").to_string();
        Self::spawn(
            dp,
            domain,
            target,
            key,
            &["--fingerprint", &fingerprint, "--debug"],
        )
    }

    /// [`Agent::start`] with more flags (`--host-header rewrite`).
    pub fn start_with_args(
        dp: &DataPlane,
        domain: &str,
        target: SocketAddr,
        args: &[&str],
    ) -> Self {
        let fingerprint = dp.fingerprint.expect("a debug-mode data-plane").to_string();
        let mut all = vec!["--fingerprint", &fingerprint, "--debug"];
        all.extend_from_slice(args);
        Self::spawn(dp, domain, target, KEY, &all)
    }

    /// The agent in production mode: it verifies the gateway's certificate against
    /// `ca_file` and the name `gw.hopgate.test`.
    pub fn start_verified(
        dp: &DataPlane,
        domain: &str,
        target: SocketAddr,
        key: &str,
        ca_file: &std::path::Path,
    ) -> Self {
        let ca = ca_file.display().to_string();
        Self::spawn(dp, domain, target, key, &["--ca-file", &ca])
    }

    /// The agent for `domain`, dialing `server` (a load balancer in front of pods that
    /// share `dp`'s debug certificate).
    pub fn start_via(
        dp: &DataPlane,
        server: SocketAddr,
        domain: &str,
        target: SocketAddr,
        key: &str,
    ) -> Self {
        let fingerprint = dp.fingerprint.expect("a debug-mode data-plane").to_string();
        Self::spawn_to(
            server,
            domain,
            target,
            key,
            &["--fingerprint", &fingerprint, "--debug"],
        )
    }

    /// The agent for `domain` with `key`, pinning the debug certificate, with its metrics
    /// listener on a free port (`--metrics-listen 127.0.0.1:0`).
    pub fn start_with_metrics(dp: &DataPlane, domain: &str, target: SocketAddr, key: &str) -> Self {
        let fingerprint = dp.fingerprint.expect("a debug-mode data-plane").to_string();
        Self::spawn(
            dp,
            domain,
            target,
            key,
            &[
                "--fingerprint",
                &fingerprint,
                "--debug",
                "--metrics-listen",
                "127.0.0.1:0",
            ],
        )
    }

    /// The agent's metrics address, from its `metrics listening` log line.
    pub fn metrics_addr(&self, limit: Duration) -> SocketAddr {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let found = self.logs.lock().unwrap().iter().find_map(|line| {
                line.contains("\"msg\":\"metrics listening\"")
                    .then(|| super::field(line, "metrics"))
                    .flatten()
            });
            if let Some(addr) = found {
                return addr.parse().unwrap();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no metrics address from the agent: {:?}",
                self.logs.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn spawn(dp: &DataPlane, domain: &str, target: SocketAddr, key: &str, extra: &[&str]) -> Self {
        Self::spawn_to(dp.dtls, domain, target, key, extra)
    }

    fn spawn_to(
        server: SocketAddr,
        domain: &str,
        target: SocketAddr,
        key: &str,
        extra: &[&str],
    ) -> Self {
        let mut child = Command::new(agent_binary())
            .args([
                "http",
                &target.to_string(),
                "--domain",
                domain,
                "--key",
                key,
            ])
            .args([
                "--server",
                &server.to_string(),
                "--server-name",
                "gw.hopgate.test",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let keep_logs = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                keep_logs.lock().unwrap().push(line);
            }
        });
        let stderr = child.stderr.take().unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let keep = output.clone();
        let (tx, connected) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("connected") {
                    let _ = tx.send(());
                }
                keep.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            output,
            logs,
            connected,
        }
    }

    /// The agent's exit status, if it exited within `limit`.
    pub async fn exited_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn said(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Waits for the agent's `connected` line.
    pub fn wait_connected(&self, limit: Duration) {
        if self.connected.recv_timeout(limit).is_err() {
            panic!(
                "agent not connected within {limit:?}: {:?}",
                self.output.lock().unwrap()
            );
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn peak_rss_mib(&self) -> f64 {
        peak_rss_mib(self.child.id())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}
