//! `hopgate-sessions-bench`: what idle agent sessions cost a pod. Dials `--count` sessions
//! at once to a debug data-plane (one development domain each, `s<I>.<suffix>`, all with
//! `--key`), each saying hello and answering the pod's pings as an agent does, retrying a
//! lost handshake as an agent does; then reads the pod's memory and CPU time from /proc.
//!
//! Prints (`name value unit`):
//! - `sessions.connect_all_s`: from the first dial until every session's hello was accepted;
//! - `sessions.rss_per_session_KiB`: the pod's resident memory once all are up, less its
//!   memory before the first, per session;
//! - `sessions.idle_cpu_ms_per_s_per_1000`: the pod's CPU time while every session idles,
//!   per second and per 1,000 sessions.
//!
//! Usage: `hopgate-sessions-bench DTLS_ADDR FINGERPRINT KEY SUFFIX COUNT POD_PID CLK_TCK`
//! (bench/sessions.sh starts the pod and passes these).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use hopgate_protocol::{Frame, Hello, Limits};
use hopgate_transport::{ClientConfig, Fingerprint, ServerVerification, Session};
use hopgate_tunnel::{FrameReader, FrameWriter, agent_hello};

/// How long every session may take to come up before the run fails.
const CONNECT_DEADLINE: Duration = Duration::from_secs(180);
/// Time for the pod to settle after the last hello (allocator, deferred work).
const SETTLE: Duration = Duration::from_secs(3);
/// How long the idle CPU time is measured.
const IDLE_WINDOW: Duration = Duration::from_secs(10);

struct Args {
    dtls: SocketAddr,
    fingerprint: Fingerprint,
    key: String,
    suffix: String,
    count: usize,
    pod_pid: u32,
    clk_tck: u64,
}

fn args() -> anyhow::Result<Args> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let [dtls, fingerprint, key, suffix, count, pod_pid, clk_tck] = argv.as_slice() else {
        bail!("usage: hopgate-sessions-bench DTLS FINGERPRINT KEY SUFFIX COUNT POD_PID CLK_TCK");
    };
    Ok(Args {
        dtls: dtls.parse().context("DTLS address")?,
        fingerprint: fingerprint
            .parse()
            .map_err(|e| anyhow::anyhow!("fingerprint: {e}"))?,
        key: key.clone(),
        suffix: suffix.clone(),
        count: count.parse().context("COUNT")?,
        pod_pid: pod_pid.parse().context("POD_PID")?,
        clk_tck: clk_tck.parse().context("CLK_TCK")?,
    })
}

/// A field of /proc/PID/status, in KiB.
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// User + system CPU time of the whole process, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let after_name = stat.rsplit_once(')').context("odd /proc stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// One session up and said hello (retrying as an agent does); then it answers the pod's
/// pings until the process ends.
async fn hold_session(args: Arc<Args>, index: usize, up: Arc<AtomicUsize>) {
    let config = ClientConfig::new(
        "gw.hopgate.test",
        ServerVerification::Pinned(args.fingerprint),
    );
    let domain = format!("s{index}.{}", args.suffix);
    let mut pause = Duration::from_millis(100);
    loop {
        if let Ok((session, reader, writer)) = dial(&args, &config, &domain).await {
            up.fetch_add(1, Ordering::Relaxed);
            answer_pings(session, reader, writer).await;
            return;
        }
        tokio::time::sleep(pause + Duration::from_millis(rand::random::<u64>() % 100)).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

type Control = (
    Session,
    FrameReader<hopgate_transport::RecvStream>,
    FrameWriter<hopgate_transport::SendStream>,
);

async fn dial(args: &Args, config: &ClientConfig, domain: &str) -> anyhow::Result<Control> {
    let session = hopgate_transport::connect(args.dtls, config).await?;
    let (send, recv) = session.open_stream().await?;
    let mut writer = FrameWriter::new(send, Limits::default());
    let mut reader = FrameReader::new(recv, Limits::default());
    let hello = Hello::new(domain, args.key.as_str(), "sessions-bench");
    let ack = agent_hello(&mut reader, &mut writer, hello).await?;
    if !ack.ok {
        bail!("{domain} refused: {}", ack.message);
    }
    Ok((session, reader, writer))
}

async fn answer_pings(
    _session: Session,
    mut reader: FrameReader<hopgate_transport::RecvStream>,
    mut writer: FrameWriter<hopgate_transport::SendStream>,
) {
    while let Ok(Some(frame)) = reader.next().await {
        if let Frame::Ping(ping) = frame
            && writer.send(&Frame::Pong(ping.pong())).await.is_err()
        {
            return;
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(args()?);
    let rss_before = status_kib(args.pod_pid, "VmRSS:")?;
    let up = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    for index in 0..args.count {
        tokio::spawn(hold_session(args.clone(), index, up.clone()));
    }
    while up.load(Ordering::Relaxed) < args.count {
        if started.elapsed() > CONNECT_DEADLINE {
            bail!(
                "only {} of {} sessions up after {CONNECT_DEADLINE:?}",
                up.load(Ordering::Relaxed),
                args.count
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_all = started.elapsed();
    tokio::time::sleep(SETTLE).await;
    let rss_after = status_kib(args.pod_pid, "VmRSS:")?;
    let ticks_before = cpu_ticks(args.pod_pid)?;
    let window = Instant::now();
    tokio::time::sleep(IDLE_WINDOW).await;
    let ticks = cpu_ticks(args.pod_pid)? - ticks_before;
    let cpu_ms = ticks as f64 * 1000.0 / args.clk_tck as f64;
    let per_second = cpu_ms / window.elapsed().as_secs_f64();
    let thousands = args.count as f64 / 1000.0;
    let per_session = rss_after.saturating_sub(rss_before) as f64 / args.count as f64;
    println!("sessions.count {} sessions", args.count);
    println!("sessions.connect_all_s {:.2} s", connect_all.as_secs_f64());
    println!("sessions.rss_per_session_KiB {per_session:.1} KiB");
    println!(
        "sessions.idle_cpu_ms_per_s_per_1000 {:.1} ms/s",
        per_second / thousands
    );
    Ok(())
}
