//! A real data-plane on port 0: the `hopgate-data-plane` process, or a pod the caller runs
//! its own way (the data-plane's tests run the library in-process) behind the same handle;
//! and what a visitor asks of it.

use std::{
    net::SocketAddr,
    process::{Child, ExitStatus, Stdio},
    sync::Arc,
    time::Duration,
};

use hopgate_test_support::{
    LineLog, TempDir, exit_within, field, hop_command, peak_rss_kib, poll_until, workspace_binary,
};
use hopgate_transport::Fingerprint;

use crate::{
    KEY, RELAY_TOKEN,
    control_plane::{self, ControlPlane},
};

/// How long a pod may take to say it listens.
const START: Duration = Duration::from_secs(60);

/// A running pod and its addresses.
pub struct DataPlane {
    pub runner: Runner,
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
    /// The pod's JSON log lines (its stdout; its stderr goes to the test's).
    pub log: LineLog,
    /// Where the pod keeps its state; shared so a restarted pod can find its snapshot.
    pub state: Arc<TempDir>,
}

/// How a [`DataPlane`] runs.
pub enum Runner {
    /// The `hopgate-data-plane` binary.
    Process(Child),
    /// Run by the test's own means, stopped through this.
    InProcess(Box<dyn Stop>),
}

/// Stops a pod run in the test's process (and waits for it to stop).
pub trait Stop: Send + Sync {
    fn stop(&mut self);
}

/// The settings every test data-plane starts with, before the test's own: debug mode, the
/// gateway's domain, every listener on port 0 (the pod logs where it listens).
pub const BASE_ENV: &[(&str, &str)] = &[
    ("HOP_SERVER_DOMAIN", "gw.hopgate.test"),
    ("HOP_SERVER_DEBUG", "true"),
    ("HOP_SERVER_HTTP_LISTEN", "127.0.0.1:0"),
    ("HOP_SERVER_HTTPS_LISTEN", "127.0.0.1:0"),
    ("HOP_SERVER_DTLS_LISTEN", "127.0.0.1:0"),
    ("HOP_METRICS_LISTEN", "127.0.0.1:0"),
];

/// `HOP_DEV_DOMAINS` serving `domains` with [`KEY`].
pub fn dev_domains(domains: &[&str]) -> String {
    let dev: Vec<String> = domains.iter().map(|d| format!("{d}={KEY}")).collect();
    dev.join(",")
}

/// Waits for the pod's `listening` line in `log`: the line, and the debug certificate's
/// fingerprint logged before it (debug mode only).
pub fn wait_listening(log: &LineLog) -> (String, Option<Fingerprint>) {
    let line = log.wait_for("`listening` line", START, |line| {
        line.contains("\"msg\":\"listening\"")
    });
    let fingerprint = log
        .lines()
        .iter()
        .find_map(|line| field(line, "fingerprint"))
        .map(|fp| Fingerprint::parse(&fp).unwrap());
    (line, fingerprint)
}

impl DataPlane {
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
    /// control-plane `cp`, keeping state in `state`.
    pub fn subscribed(cp: &ControlPlane, pod_id: &str, state: Arc<TempDir>) -> Self {
        let url = format!("http://{}", cp.internal);
        let env = subscriber_env(&url, pod_id);
        Self::launch(&env, state)
    }

    /// Like [`DataPlane::subscribed`], with a relay listener on loopback (cross-pod
    /// routing) and `extra_env`. Pods given the same `state` share the debug certificate
    /// (so one pinned fingerprint fits them all) but also the snapshot file: use
    /// [`DataPlane::share_certificate`] instead for separate state.
    pub fn relaying(
        cp: &ControlPlane,
        pod_id: &str,
        state: Arc<TempDir>,
        extra_env: &[(&str, &str)],
    ) -> Self {
        let url = format!("http://{}", cp.internal);
        let mut env = subscriber_env(&url, pod_id);
        env.push(("HOP_SERVER_RELAY_LISTEN", "127.0.0.1:0"));
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
    pub fn production(cp: &ControlPlane, pod_id: &str, http_listen: &str, root_pem: &[u8]) -> Self {
        let url = format!("http://{}", cp.internal);
        let mut env = subscriber_env(&url, pod_id);
        env.extend([
            ("HOP_SERVER_DEBUG", "false"),
            ("HOP_SERVER_RELAY_LISTEN", "127.0.0.1:0"),
            ("HOP_SERVER_HTTP_LISTEN", http_listen),
        ]);
        let mut dp = Self::launch(&env, Arc::new(TempDir::new("dp")));
        dp.cert_pem = root_pem.to_vec();
        dp
    }

    fn launch(env: &[(&str, &str)], state: Arc<TempDir>) -> Self {
        let mut command = hop_command(workspace_binary("hopgate-data-plane"));
        command
            .envs(BASE_ENV.iter().copied())
            .env("HOP_SERVER_STATE_DIR", &state.0)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("starting hopgate-data-plane");
        let log = LineLog::of_child(&mut child, "data-plane");
        let (addresses, fingerprint) = wait_listening(&log);
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
            log,
            runner: Runner::Process(child),
            state,
        }
    }

    pub fn pid(&self) -> u32 {
        match &self.runner {
            Runner::Process(child) => child.id(),
            Runner::InProcess(_) => panic!("a data-plane run in the test's process has no pid"),
        }
    }

    /// The names of the pod's threads.
    pub fn thread_names(&self) -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_owned())
            .collect()
    }

    /// The pod's peak resident memory so far, in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        peak_rss_kib(self.pid()) as f64 / 1024.0
    }

    /// Sends SIGTERM to the pod's process.
    pub fn terminate(&self) {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Every log line so far, joined.
    pub fn logs(&self) -> String {
        self.log.text()
    }

    /// Polls `/readyz` until it answers 200 (a routing table is loaded).
    pub async fn wait_ready(&self, limit: Duration) {
        let url = format!("http://{}/readyz", self.metrics);
        let what = format!("data-plane ready ({})", self.metrics);
        poll_until(&what, limit, || async {
            reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    /// Stops the data-plane: kills its process, or stops the one run in this process.
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
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let Runner::Process(child) = &mut self.runner else {
            panic!("a data-plane run in the test's process has no exit status");
        };
        exit_within(child, limit)
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The settings of a pod that subscribes to the control-plane at `url` as `pod_id`.
fn subscriber_env<'a>(url: &'a str, pod_id: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("HOP_CONTROL_PLANE_URL", url),
        ("HOP_INTERNAL_TOKEN", control_plane::INTERNAL_TOKEN),
        ("HOP_RELAY_TOKEN", RELAY_TOKEN),
        ("HOP_POD_ID", pod_id),
    ]
}

/// What a visitor asks of a pod.
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

    /// A visitor's client that resolves `domains` to this data-plane and trusts its
    /// certificate.
    pub fn visitor(&self, domains: &[&str]) -> reqwest::Client {
        self.visitor_giving_up_after(domains, Duration::from_secs(30))
    }

    /// [`DataPlane::visitor`] that gives up on a request after `timeout`.
    pub fn visitor_giving_up_after(&self, domains: &[&str], timeout: Duration) -> reqwest::Client {
        self.visitor_builder(domains, timeout).build().unwrap()
    }

    /// [`DataPlane::visitor`] connecting from the loopback address `local` (`127.0.0.2`…),
    /// so the pod sees another client address.
    pub fn visitor_from(&self, domains: &[&str], local: std::net::IpAddr) -> reqwest::Client {
        self.visitor_builder(domains, Duration::from_secs(30))
            .local_address(local)
            .build()
            .unwrap()
    }

    fn visitor_builder(&self, domains: &[&str], timeout: Duration) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&self.cert_pem).unwrap())
            .timeout(timeout);
        for domain in domains {
            builder = builder.resolve(domain, self.https);
        }
        builder
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

    /// The status `visitor` gets for a GET of `path` on `domain`; 0 when the request fails.
    pub async fn try_status(&self, visitor: &reqwest::Client, domain: &str, path: &str) -> u16 {
        let url = format!("https://{domain}:{}{path}", self.https.port());
        match visitor.get(url).send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// The value of the sample `name` (labels included) on the pod's `/metrics`.
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
}
