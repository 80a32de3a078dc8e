//! A real data-plane on port 0, as a process or run in the test's own process through the
//! library (`in_process`), and a stand-in agent built from the shared crates.

#![allow(dead_code, unreachable_pub)]

pub mod control_plane;
pub mod forwarder;
pub mod head_service;
pub mod in_process;
pub mod local;
pub mod pki;
pub mod raw_visitor;
pub mod two_pods;

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use hopgate_protocol::{Frame, Hello, HelloAck, Limits};
use hopgate_transport::{ClientConfig, Fingerprint, ServerVerification, Session, TransportConfig};
use hopgate_tunnel::{FrameReader, FrameWriter, agent_hello};

pub const KEY: &str = "test-key-0123456789abcdef0123456789";
/// The pods' relay token (`HOP_RELAY_TOKEN`), which the control-plane never sees.
pub const RELAY_TOKEN: &str = "relay-token-for-tests-0123456789abcdef";

pub struct DataPlane {
    runner: Runner,
    pub https: SocketAddr,
    pub http: SocketAddr,
    pub dtls: SocketAddr,
    pub metrics: SocketAddr,
    /// The relay listener (cross-pod routing), when it is on.
    pub relay: Option<SocketAddr>,
    /// The debug certificate's fingerprint (debug mode only).
    pub fingerprint: Option<Fingerprint>,
    /// The root a visitor trusts: the debug certificate, or the CA that issued the
    /// production certificates.
    pub cert_pem: Vec<u8>,
    pub lines: Arc<Mutex<Vec<String>>>,
    /// Where the pod keeps its state; shared so a restarted pod can find its snapshot.
    pub state: Arc<TempDir>,
}

impl DataPlane {
    /// A rustls client configuration for visitors: trusts this pod's certificate
    /// (`cert_pem`) and offers HTTP/1.1 by ALPN.
    pub fn tls_http1(&self) -> Arc<rustls::ClientConfig> {
        self.tls_offering(b"http/1.1")
    }

    /// [`DataPlane::tls_http1`] offering `alpn` instead.
    pub fn tls_offering(&self, alpn: &[u8]) -> Arc<rustls::ClientConfig> {
        use rustls_pki_types::{CertificateDer, pem::PemObject};
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&self.cert_pem) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        Arc::new(config)
    }
}

pub use hopgate_test_support::TempDir;

/// The settings every test data-plane starts with, before the test's own: debug mode, the
/// gateway's domain, every listener on a free loopback port.
const BASE_ENV: &[(&str, &str)] = &[
    ("HOP_SERVER_DOMAIN", "gw.hopgate.test"),
    ("HOP_SERVER_DEBUG", "true"),
    ("HOP_SERVER_HTTP_LISTEN", "127.0.0.1:0"),
    ("HOP_SERVER_HTTPS_LISTEN", "127.0.0.1:0"),
    ("HOP_SERVER_DTLS_LISTEN", "127.0.0.1:0"),
    ("HOP_METRICS_LISTEN", "127.0.0.1:0"),
];

/// How a [`DataPlane`] runs.
enum Runner {
    /// The `hopgate-data-plane` binary.
    Process(Child),
    /// The library, on a thread of this process.
    InProcess(in_process::Pod),
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A binary of another workspace crate, built next to this test's binary by the
/// workspace build (`cargo nextest run --workspace`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace (cargo build --workspace)",
        path.display()
    );
    path
}

/// Polls `check` every 20 ms until it holds.
pub async fn within<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `"name":"value"` field of a JSON log line.
pub fn field(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!("\"{name}\":\""))? + name.len() + 4;
    let end = line[start..].find('"')? + start;
    Some(line[start..end].to_owned())
}

impl DataPlane {
    pub fn pid(&self) -> u32 {
        self.child().id()
    }

    /// The data-plane's process; a data-plane run in this process has none.
    fn child(&self) -> &Child {
        match &self.runner {
            Runner::Process(child) => child,
            Runner::InProcess(_) => panic!("a data-plane run in the test's process has no pid"),
        }
    }

    /// Starts `hopgate-data-plane` in debug mode serving `domains` (with [`KEY`]).
    pub fn start(domains: &[&str], extra_env: &[(&str, &str)]) -> Self {
        Self::start_in(domains, extra_env, Arc::new(TempDir::new("dp")))
    }

    /// Like [`DataPlane::start`], keeping state in `state`.
    pub fn start_in(domains: &[&str], extra_env: &[(&str, &str)], state: Arc<TempDir>) -> Self {
        let dev = dev_domains(domains);
        let mut env = vec![("HOP_DEV_DOMAINS", dev.as_str())];
        env.extend_from_slice(extra_env);
        Self::launch(&env, state)
    }

    /// Starts `hopgate-data-plane` in debug mode, routing from the table of the
    /// control-plane at `internal` (its internal listener), keeping state in `state`.
    pub fn subscribed(cp: &control_plane::ControlPlane, pod_id: &str, state: Arc<TempDir>) -> Self {
        let url = format!("http://{}", cp.internal);
        let env = [
            ("HOP_CONTROL_PLANE_URL", url.as_str()),
            ("HOP_INTERNAL_TOKEN", control_plane::INTERNAL_TOKEN),
            ("HOP_RELAY_TOKEN", RELAY_TOKEN),
            ("HOP_POD_ID", pod_id),
        ];
        Self::launch(&env, state)
    }

    /// Like [`DataPlane::subscribed`], with a relay listener on loopback (cross-pod
    /// routing) and `extra_env`. Pods given the same `state` share the debug certificate
    /// (so one pinned fingerprint fits them all) but also the snapshot file: use
    /// [`DataPlane::share_certificate`] instead for separate state.
    pub fn relaying(
        cp: &control_plane::ControlPlane,
        pod_id: &str,
        state: Arc<TempDir>,
        extra_env: &[(&str, &str)],
    ) -> Self {
        let url = format!("http://{}", cp.internal);
        let mut env = vec![
            ("HOP_CONTROL_PLANE_URL", url.as_str()),
            ("HOP_INTERNAL_TOKEN", control_plane::INTERNAL_TOKEN),
            ("HOP_RELAY_TOKEN", RELAY_TOKEN),
            ("HOP_POD_ID", pod_id),
            ("HOP_SERVER_RELAY_LISTEN", "127.0.0.1:0"),
        ];
        env.extend_from_slice(extra_env);
        Self::launch(&env, state)
    }

    /// A fresh state directory holding this pod's debug certificate and key, for a second
    /// pod that must present the same certificate.
    pub fn share_certificate(&self) -> Arc<TempDir> {
        let dir = Arc::new(TempDir::new("dp"));
        for file in ["debug-cert.pem", "debug-key.pem"] {
            std::fs::copy(self.state.0.join(file), dir.0.join(file)).unwrap();
        }
        dir
    }

    /// Starts `hopgate-data-plane` in production mode (certificates from the table of the
    /// control-plane `cp`), its plain-HTTP listener on `http_listen`; visitors trust
    /// `root_pem`.
    pub fn production(
        cp: &control_plane::ControlPlane,
        pod_id: &str,
        http_listen: &str,
        root_pem: &[u8],
    ) -> Self {
        let url = format!("http://{}", cp.internal);
        let env = [
            ("HOP_SERVER_DEBUG", "false"),
            ("HOP_SERVER_RELAY_LISTEN", "127.0.0.1:0"),
            ("HOP_SERVER_HTTP_LISTEN", http_listen),
            ("HOP_CONTROL_PLANE_URL", url.as_str()),
            ("HOP_INTERNAL_TOKEN", control_plane::INTERNAL_TOKEN),
            ("HOP_RELAY_TOKEN", RELAY_TOKEN),
            ("HOP_POD_ID", pod_id),
        ];
        let mut dp = Self::launch(&env, Arc::new(TempDir::new("dp")));
        dp.cert_pem = root_pem.to_vec();
        dp
    }

    fn launch(env: &[(&str, &str)], state: Arc<TempDir>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hopgate-data-plane"));
        command
            .envs(BASE_ENV.iter().copied())
            .env("HOP_SERVER_STATE_DIR", &state.0)
            .env_remove("HOP_DEV_DOMAINS")
            .env_remove("HOP_CONTROL_PLANE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let keep = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line.clone());
                keep.lock().unwrap().push(line);
            }
        });
        let (addresses, fingerprint) = wait_listening(&rx);
        let addr = |name| field(&addresses, name).unwrap().parse().unwrap();
        let cert_pem = std::fs::read(state.0.join("debug-cert.pem")).unwrap_or_default();
        Self {
            https: addr("https"),
            http: addr("http"),
            dtls: addr("dtls"),
            metrics: addr("metrics"),
            relay: field(&addresses, "relay").map(|a| a.parse().unwrap()),
            fingerprint,
            cert_pem,
            lines,
            runner: Runner::Process(child),
            state,
        }
    }

    /// A visitor's client that resolves `domains` to this data-plane and trusts its
    /// debug certificate.
    pub fn visitor(&self, domains: &[&str]) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&self.cert_pem).unwrap())
            .timeout(Duration::from_secs(30));
        for domain in domains {
            builder = builder.resolve(domain, self.https);
        }
        builder.build().unwrap()
    }

    /// GETs `path` on `domain` through this data-plane; the body as text.
    pub async fn get_text(&self, domain: &str, path: &str) -> String {
        self.visitor(&[domain])
            .get(format!("https://{domain}:{}{path}", self.https.port()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn metric(&self, name: &str) -> u64 {
        let body = reqwest::get(format!("http://{}/metrics", self.metrics))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {body}"))
            .trim()
            .parse()
            .unwrap()
    }

    pub fn logs(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The status of a GET of `path` on `domain` through this data-plane.
    pub async fn status_of(&self, domain: &str, path: &str) -> u16 {
        self.visitor(&[domain])
            .get(format!("https://{domain}:{}{path}", self.https.port()))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Polls `/readyz` until it answers 200 (a routing table is loaded).
    pub async fn wait_ready(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let ready = reqwest::get(format!("http://{}/readyz", self.metrics))
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "data-plane not ready within {limit:?}: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the data-plane: kills its process, or shuts down the one run in this process.
    pub fn kill(&mut self) {
        match &mut self.runner {
            Runner::Process(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Runner::InProcess(pod) => pod.stop(),
        }
    }

    /// The process's exit status, if it exits within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let Runner::Process(child) = &mut self.runner else {
            panic!("a data-plane run in the test's process has no exit status");
        };
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `HOP_DEV_DOMAINS` serving `domains` with [`KEY`].
fn dev_domains(domains: &[&str]) -> String {
    let dev: Vec<String> = domains.iter().map(|d| format!("{d}={KEY}")).collect();
    dev.join(",")
}

/// Waits for the data-plane's `listening` line on `lines`: the line, and the debug
/// certificate's fingerprint logged before it (debug mode only).
fn wait_listening(lines: &std::sync::mpsc::Receiver<String>) -> (String, Option<Fingerprint>) {
    let mut fingerprint = None;
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("data-plane didn't start");
        if let Some(fp) = field(&line, "fingerprint") {
            fingerprint = Some(Fingerprint::parse(&fp).unwrap());
        }
        if line.contains("\"msg\":\"listening\"") {
            return (line, fingerprint);
        }
    }
}

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
