//! The gateway under attack: a debug-mode data-plane from `target/release` serving two
//! development domains, each through the real agent in front of the built-in service.

use std::{
    io::{BufRead, BufReader, Read},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use super::service;

/// The domain the attacks aim at.
pub(crate) const TARGET: &str = "a.gw.hopgate.test";
/// The domain of the well-behaved visitor.
pub(crate) const VICTIM: &str = "b.gw.hopgate.test";
const MAIN_DOMAIN: &str = "gw.hopgate.test";
const KEY_A: &str = "abuse-key-a-0123456789abcdef0123456789";
const KEY_B: &str = "abuse-key-b-0123456789abcdef0123456789";

/// A child process killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) struct Gateway {
    pod: Process,
    _agents: [Process; 2],
    pub(crate) https: SocketAddr,
    pub(crate) dtls: SocketAddr,
    /// The debug certificate visitors trust.
    pub(crate) cert_pem: Vec<u8>,
    /// The pod's open descriptors once both agents were connected.
    baseline_fds: usize,
    state: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

impl Gateway {
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let release = std::env::current_exe()?
            .parent()
            .context("the bench binary has no directory")?
            .to_path_buf();
        let state = std::env::temp_dir().join(format!("hopgate-abuse-{}", std::process::id()));
        std::fs::create_dir_all(&state)?;
        let service = service::start().await?;
        let (pod, line) = spawn_pod(&release.join("hopgate-data-plane"), &state)?;
        let https = field(&line, "https")?;
        let dtls = field(&line, "dtls")?;
        let fingerprint = text_field(&line_with(&state, "fingerprint")?, "fingerprint")?;
        let agents = [
            spawn_agent(&release, dtls, TARGET, KEY_A, service, &fingerprint)?,
            spawn_agent(&release, dtls, VICTIM, KEY_B, service, &fingerprint)?,
        ];
        let cert_pem = std::fs::read(state.join("dp").join("debug-cert.pem"))?;
        let mut gateway = Self {
            baseline_fds: 0,
            pod,
            _agents: agents,
            https,
            dtls,
            cert_pem,
            state,
        };
        gateway.wait_served(VICTIM).await?;
        gateway.wait_served(TARGET).await?;
        gateway.baseline_fds = open_fds(gateway.pid());
        Ok(gateway)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pod.0.id()
    }

    /// Waits until a request for `domain` is answered 200 through its agent.
    async fn wait_served(&self, domain: &str) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&self.cert_pem)?)
            .resolve(domain, self.https)
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = format!("https://{domain}:{}/", self.https.port());
        let started = Instant::now();
        loop {
            if matches!(client.get(&url).send().await, Ok(r) if r.status() == 200) {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("{domain} not served through its agent within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// After an attack: waits (up to `limit`) until the pod holds no more descriptors than
    /// before the first one, give or take a few.
    pub(crate) async fn settle(&self, limit: Duration) {
        let started = Instant::now();
        let mut fds = open_fds(self.pid());
        while fds > self.baseline_fds + 32 && started.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(100)).await;
            fds = open_fds(self.pid());
        }
        eprintln!(
            "pod: {fds} descriptors open ({} before the attacks), {} KiB resident",
            self.baseline_fds,
            rss_kib(self.pid())
        );
    }
}

fn spawn_pod(binary: &Path, state: &Path) -> anyhow::Result<(Process, String)> {
    let log = std::fs::File::create(state.join("dp.log"))?;
    let dev = format!("{TARGET}={KEY_A},{VICTIM}={KEY_B}");
    let child = Command::new(binary)
        .env("HOP_SERVER_DOMAIN", MAIN_DOMAIN)
        .env("HOP_SERVER_DEBUG", "true")
        .env("HOP_SERVER_HTTP_LISTEN", "127.0.0.1:0")
        .env("HOP_SERVER_HTTPS_LISTEN", "127.0.0.1:0")
        .env("HOP_SERVER_DTLS_LISTEN", "127.0.0.1:0")
        .env("HOP_METRICS_LISTEN", "127.0.0.1:0")
        .env("HOP_SERVER_STATE_DIR", state.join("dp"))
        .env("HOP_DEV_DOMAINS", dev)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let process = Process(child);
    let line = wait_for_line(&state.join("dp.log"), "\"msg\":\"listening\"")?;
    Ok((process, line))
}

fn spawn_agent(
    release: &Path,
    dtls: SocketAddr,
    domain: &str,
    key: &str,
    service: SocketAddr,
    fingerprint: &str,
) -> anyhow::Result<Process> {
    let child = Command::new(release.join("hopgate-agent"))
        .args([
            "http",
            &service.to_string(),
            "--domain",
            domain,
            "--key",
            key,
        ])
        .args(["--server", &dtls.to_string(), "--server-name", MAIN_DOMAIN])
        .args(["--fingerprint", fingerprint, "--debug", "--inspect", "off"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting hopgate-agent")?;
    let mut process = Process(child);
    let stderr = process.0.stderr.take().context("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("connected") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .with_context(|| format!("the agent for {domain} did not connect"))?;
    Ok(process)
}

/// Polls the log file at `path` for a line containing `needle`.
fn wait_for_line(path: &Path, needle: &str) -> anyhow::Result<String> {
    let started = Instant::now();
    loop {
        if let Ok(line) = line_in(path, needle) {
            return Ok(line);
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("no '{needle}' in {} within 30 s", path.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn line_in(path: &Path, needle: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    text.lines()
        .find(|l| l.contains(needle))
        .map(str::to_owned)
        .context("not there yet")
}

fn line_with(state: &Path, name: &str) -> anyhow::Result<String> {
    line_in(&state.join("dp.log"), &format!("\"{name}\":\""))
}

fn text_field(line: &str, name: &str) -> anyhow::Result<String> {
    let key = format!("\"{name}\":\"");
    let start = line.find(&key).context("field missing")? + key.len();
    let end = line[start..].find('"').context("field unterminated")? + start;
    Ok(line[start..end].to_owned())
}

fn field(line: &str, name: &str) -> anyhow::Result<SocketAddr> {
    Ok(text_field(line, name)?.parse()?)
}

pub(crate) fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
