//! `hopgate-roaming-bench`: what a change of the agent's network path costs visitors.
//!
//! Starts a UDP relay in front of the pod's DTLS port (`hopgate-lossy-relay`, no
//! impairment), starts the agent with the command it is given (`{relay}` in it becomes the
//! relay's address), then sends a visitor GET every 100 ms through the pod's HTTPS port
//! while it changes the path twice:
//! 1. **rebind**: the relay gives the flow a new source port, as a NAT rebinding does;
//! 2. **UDP block**: the relay drops every datagram both ways for 10 s, then lets them
//!    through; the agent (on `--transport auto`) moves to TCP and, once UDP answers, back.
//!
//! Prints (`name value unit`), per change: `roaming.<change>_outage_ms`, from the change
//! until service was back for good (the end of the first request that started after the
//! change and after which none failed; a request is sent every 100 ms, so this is never
//! below that request's own time), and `roaming.<change>_failed`, the requests that failed
//! (no answer within 5 s, or not 200) from one second before the change to the end of the
//! run. For the UDP block also `roaming.udp_block_served_again_ms`, from the block until
//! the first request that started after it succeeded (requests held up by the block may
//! end later, and still succeed), and `roaming.udp_block_back_on_udp_ms`, from the block
//! until the agent said it was back on UDP (-1: not within the run).
//!
//! Usage: `hopgate-roaming-bench HTTPS_ADDR DOMAIN CERT_PEM DTLS_ADDR AGENT_LOG -- AGENT…`
//! (bench/roaming.sh starts the pod and passes these).

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use hopgate_lossy_relay::{Relay, RelayConfig};
use tokio::task::JoinSet;

/// How often a visitor request starts.
const EVERY: Duration = Duration::from_millis(100);
/// A request without an answer for this long counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests before a change, so a failure caused by it is seen.
const BEFORE: Duration = Duration::from_secs(1);
/// How long UDP is blocked.
const BLOCK: Duration = Duration::from_secs(10);
/// Requests go on this long after the block, through the move back to UDP (the agent's
/// probes come at most 5 s, then 10 s apart).
const AFTER_BLOCK: Duration = Duration::from_secs(16);
/// What the agent says once it is back on UDP.
const BACK_ON_UDP: &str = "udp answers again: back on udp";

struct Args {
    https: SocketAddr,
    domain: String,
    cert_pem: String,
    dtls: SocketAddr,
    agent_log: String,
    agent: Vec<String>,
}

fn args() -> anyhow::Result<Args> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: hopgate-roaming-bench HTTPS DOMAIN CERT_PEM DTLS AGENT_LOG -- AGENT…";
    let Some(split) = argv.iter().position(|a| a == "--") else {
        bail!(usage);
    };
    let [https, domain, cert_pem, dtls, agent_log] = &argv[..split] else {
        bail!(usage);
    };
    Ok(Args {
        https: https.parse().context("HTTPS address")?,
        domain: domain.clone(),
        cert_pem: cert_pem.clone(),
        dtls: dtls.parse().context("DTLS address")?,
        agent_log: agent_log.clone(),
        agent: argv[split + 1..].to_vec(),
    })
}

/// One visitor request, in time since the run's origin.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    started: Duration,
    ended: Duration,
    ok: bool,
}

/// The agent, killed when dropped.
struct AgentProcess(Child);

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the agent with `{relay}` replaced and waits for its `connected` line.
fn start_agent(args: &Args, relay: &Relay) -> anyhow::Result<AgentProcess> {
    let relay = relay.local_addr().to_string();
    let command: Vec<String> = args
        .agent
        .iter()
        .map(|a| a.replace("{relay}", &relay))
        .collect();
    let [program, rest @ ..] = command.as_slice() else {
        bail!("no agent command");
    };
    let log = std::fs::File::create(&args.agent_log).context("agent log")?;
    let child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let agent = AgentProcess(child);
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let said = std::fs::read_to_string(&args.agent_log).unwrap_or_default();
        if said.lines().any(|l| l.starts_with("connected")) {
            return Ok(agent);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the agent did not connect; see {}", args.agent_log)
}

/// Requests every [`EVERY`] for `total`; `change` runs `BEFORE` in. Returns every outcome
/// and when the change happened.
async fn requests_around(
    client: &reqwest::Client,
    url: &str,
    total: Duration,
    change: impl AsyncFnOnce(),
) -> (Vec<Outcome>, Duration) {
    let origin = Instant::now();
    let mut tick = tokio::time::interval(EVERY);
    let mut requests = JoinSet::new();
    let mut change = Some(change);
    let mut changed_at = Duration::ZERO;
    while origin.elapsed() < total {
        tick.tick().await;
        if origin.elapsed() >= BEFORE
            && let Some(change) = change.take()
        {
            changed_at = origin.elapsed();
            change().await;
        }
        let (client, url) = (client.clone(), url.to_owned());
        requests.spawn(async move {
            let started = origin.elapsed();
            let ok = match client.get(url).send().await {
                Ok(response) => {
                    response.status() == reqwest::StatusCode::OK && response.bytes().await.is_ok()
                }
                Err(_) => false,
            };
            Outcome {
                started,
                ended: origin.elapsed(),
                ok,
            }
        });
    }
    let mut outcomes = requests.join_all().await;
    outcomes.sort_by_key(|o| o.started);
    (outcomes, changed_at)
}

/// From the change until service was back for good; the whole run when it never was.
fn outage(outcomes: &[Outcome], changed_at: Duration) -> Duration {
    let last_failure = outcomes.iter().rposition(|o| !o.ok);
    outcomes
        .iter()
        .enumerate()
        .filter(|(i, o)| o.started >= changed_at && last_failure.is_none_or(|f| *i > f))
        .map(|(_, o)| o.ended.saturating_sub(changed_at))
        .next()
        .unwrap_or_else(|| {
            outcomes
                .last()
                .map_or(Duration::ZERO, |o| o.ended.saturating_sub(changed_at))
        })
}

/// From the change until a request that started after it first succeeded.
fn served_again(outcomes: &[Outcome], changed_at: Duration) -> Option<Duration> {
    outcomes
        .iter()
        .filter(|o| o.started >= changed_at && o.ok)
        .map(|o| o.ended.saturating_sub(changed_at))
        .min()
}

/// Waits up to `limit` for `line` in the agent's log; how long that took.
async fn agent_says(log: &str, line: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if std::fs::read_to_string(log).is_ok_and(|said| said.contains(line)) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn ms(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "-1".to_owned(),
        |d| format!("{:.0}", d.as_secs_f64() * 1000.0),
    )
}

fn print(change: &str, outcomes: &[Outcome], changed_at: Duration) {
    let failed = outcomes.iter().filter(|o| !o.ok).count();
    let outage = outage(outcomes, changed_at);
    println!(
        "roaming.{change}_outage_ms {:.0} ms",
        outage.as_secs_f64() * 1000.0
    );
    println!("roaming.{change}_failed {failed} requests");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let cert = std::fs::read(&args.cert_pem).context("the pod's certificate")?;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert)?)
        .resolve(&args.domain, args.https)
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let url = format!("https://{}:{}/100b", args.domain, args.https.port());
    let relay = hopgate_lossy_relay::start(RelayConfig::new(args.dtls)).await?;
    let _agent = start_agent(&args, &relay)?;
    if !client.get(&url).send().await?.status().is_success() {
        bail!("the tunnel does not serve {url}");
    }

    let (outcomes, changed_at) =
        requests_around(&client, &url, BEFORE + Duration::from_secs(4), async || {
            if let Err(err) = relay.rebind().await {
                eprintln!("rebind failed: {err}");
            }
        })
        .await;
    print("rebind", &outcomes, changed_at);

    tokio::time::sleep(Duration::from_secs(1)).await;
    let (block_tx, block_rx) = tokio::sync::oneshot::channel::<()>();
    let unblock = async {
        let _ = block_rx.await;
        tokio::time::sleep(BLOCK).await;
        relay.block(false);
        agent_says(&args.agent_log, BACK_ON_UDP, AFTER_BLOCK)
            .await
            .map(|after| after + BLOCK)
    };
    let run = requests_around(&client, &url, BEFORE + BLOCK + AFTER_BLOCK, async || {
        relay.block(true);
        let _ = block_tx.send(());
    });
    let ((outcomes, changed_at), back_on_udp) = tokio::join!(run, unblock);
    print("udp_block", &outcomes, changed_at);
    let served = served_again(&outcomes, changed_at);
    println!("roaming.udp_block_served_again_ms {} ms", ms(served));
    println!("roaming.udp_block_back_on_udp_ms {} ms", ms(back_on_udp));
    let stats = relay.stats();
    eprintln!(
        "relay: {} rebinds, {} datagrams blocked to the pod, {} to the agent",
        stats.rebinds, stats.to_server.blocked, stats.to_client.blocked
    );
    Ok(())
}
