//! `hopgate-propagation-bench`: how long a registration takes to become routable on every
//! pod. Starts a control-plane (embedded SQLite) and two data-plane pods from
//! `target/release`, registers 100 domains through the admin API one after another, and
//! for each measures from the admin API's answer until both pods route the domain (a
//! visitor's HTTPS request gets 502 "agent offline" instead of 404 "unknown domain").
//!
//! Prints `table.propagation_p50_ms` and `table.propagation_p99_ms` (`name value unit`).

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

const ADMIN_KEY: &str = "bench-admin-key-0123456789abcdef";
const TOKEN: &str = "bench-internal-token-0123456789";
const RELAY_TOKEN: &str = "bench-relay-token-0123456789abcdef";
const MAIN_DOMAIN: &str = "gw.hopgate.test";
const REGISTRATIONS: usize = 100;

/// A child process killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary` with `env`; the fields of its `"msg":"listening"` log line.
fn spawn(binary: &Path, env: &[(&str, String)]) -> anyhow::Result<(Process, String)> {
    let mut command = Command::new(binary);
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                // Keep draining so the child never blocks on a full pipe.
                continue;
            }
        }
    });
    let process = Process(child);
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .with_context(|| format!("{} didn't start", binary.display()))?;
        if line.contains("\"msg\":\"listening\"") {
            return Ok((process, line));
        }
    }
}

fn field(line: &str, name: &str) -> anyhow::Result<SocketAddr> {
    let key = format!("\"{name}\":\"");
    let start = line.find(&key).context("field missing")? + key.len();
    let end = line[start..].find('"').context("field unterminated")? + start;
    Ok(line[start..end].parse()?)
}

struct Pod {
    _process: Process,
    https: SocketAddr,
    client: reqwest::Client,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn routable(pod: &Pod, domain: &str) -> bool {
    let url = format!("https://{domain}:{}/", pod.https.port());
    matches!(pod.client.get(url).send().await, Ok(r) if r.status() == 502)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let release = PathBuf::from("target/release");
    let state = std::env::temp_dir().join(format!("hopgate-propagation-{}", std::process::id()));
    std::fs::create_dir_all(&state)?;
    let (_cp, line) = spawn(
        &release.join("hopgate-control-plane"),
        &[
            (
                "HOP_SERVER_STATE_DIR",
                state.join("cp").display().to_string(),
            ),
            ("HOP_ADMIN_LISTEN", "127.0.0.1:0".into()),
            ("HOP_INTERNAL_LISTEN", "127.0.0.1:0".into()),
            ("HOP_ADMIN_API_KEY", ADMIN_KEY.into()),
            ("HOP_INTERNAL_TOKEN", TOKEN.into()),
        ],
    )?;
    let admin = field(&line, "admin")?;
    let internal = field(&line, "internal")?;
    let mut pods = Vec::new();
    for name in ["pod-1", "pod-2"] {
        let dir = state.join(name);
        let (process, line) = spawn(
            &release.join("hopgate-data-plane"),
            &[
                ("HOP_SERVER_DOMAIN", MAIN_DOMAIN.into()),
                ("HOP_SERVER_DEBUG", "true".into()),
                ("HOP_SERVER_HTTP_LISTEN", "127.0.0.1:0".into()),
                ("HOP_SERVER_HTTPS_LISTEN", "127.0.0.1:0".into()),
                ("HOP_SERVER_DTLS_LISTEN", "127.0.0.1:0".into()),
                ("HOP_METRICS_LISTEN", "127.0.0.1:0".into()),
                ("HOP_SERVER_STATE_DIR", dir.display().to_string()),
                ("HOP_CONTROL_PLANE_URL", format!("http://{internal}")),
                ("HOP_INTERNAL_TOKEN", TOKEN.into()),
                ("HOP_RELAY_TOKEN", RELAY_TOKEN.into()),
                ("HOP_POD_ID", name.into()),
            ],
        )?;
        let https = field(&line, "https")?;
        let cert = std::fs::read(dir.join("debug-cert.pem"))?;
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&cert)?)
            .timeout(Duration::from_secs(5));
        for i in 0..REGISTRATIONS {
            builder = builder.resolve(&format!("bench{i}.{MAIN_DOMAIN}"), https);
        }
        pods.push(Pod {
            _process: process,
            https,
            client: builder.build()?,
        });
    }
    let admin_client = reqwest::Client::new();
    let mut samples = Vec::with_capacity(REGISTRATIONS);
    for i in 0..REGISTRATIONS {
        let domain = format!("bench{i}.{MAIN_DOMAIN}");
        let response = admin_client
            .post(format!("http://{admin}/api/v1/admin/domains/register"))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .body(format!(r#"{{"domain":"{domain}","memo":"bench"}}"#))
            .send()
            .await?;
        if response.status() != 201 {
            bail!("register {domain}: {}", response.status());
        }
        let answered = Instant::now();
        let waits = pods.iter().map(|pod| {
            let domain = domain.clone();
            async move {
                while !routable(pod, &domain).await {
                    if answered.elapsed() > Duration::from_secs(10) {
                        return Err(anyhow::anyhow!("{domain} not routable after 10 s"));
                    }
                }
                Ok(answered.elapsed())
            }
        });
        let took = futures_util::future::try_join_all(waits).await?;
        let slowest = took.into_iter().max().unwrap_or_default();
        samples.push(slowest.as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "table.propagation_p50_ms {:.1} ms",
        percentile(&samples, 0.50)
    );
    println!(
        "table.propagation_p99_ms {:.1} ms",
        percentile(&samples, 0.99)
    );
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}
