//! `hopgate-sessions-bench`: what idle agent sessions cost a pod. Dials `--count` sessions
//! at once to a debug data-plane (one development domain each, `s<I>.<suffix>`, all with
//! `--key`), each saying hello and answering the pod's pings as an agent does, retrying a
//! lost handshake as an agent does; then reads the pod's memory and CPU time from /proc.
//!
//! Prints (`name value unit`):
//! - `sessions.connect_all_s`: from the first dial until every session's hello was accepted;
//! - `sessions.dial_retries`: dials that failed and were retried (stderr says why);
//! - `sessions.rss_per_session_KiB`: the pod's resident memory once all are up, less its
//!   memory before the first, per session;
//! - `sessions.idle_cpu_ms_per_s_per_1000`: the pod's CPU time while every session idles,
//!   per second and per 1,000 sessions.
//!
//! Usage: `hopgate-sessions-bench DTLS_ADDR FINGERPRINT KEY SUFFIX COUNT POD_PID CLK_TCK`
//! (bench/sessions.sh starts the pod and passes these).

mod agents;
mod procfs;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use agents::{CONNECT_DEADLINE, Storm, Target, report_retries};
use anyhow::{Context, bail};
use procfs::{cpu_ticks, status_kib};

/// Time for the pod to settle after the last hello (allocator, deferred work).
const SETTLE: Duration = Duration::from_secs(3);
/// How long the idle CPU time is measured.
const IDLE_WINDOW: Duration = Duration::from_secs(10);

struct Args {
    target: Target,
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
        target: Target::parse(dtls, fingerprint, key, suffix, "sessions-bench")?,
        count: count.parse().context("COUNT")?,
        pod_pid: pod_pid.parse().context("POD_PID")?,
        clk_tck: clk_tck.parse().context("CLK_TCK")?,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let Args {
        target,
        count,
        pod_pid,
        clk_tck,
    } = args()?;
    let rss_before = status_kib(pod_pid, "VmRSS:")?;
    let storm = Storm::dial(Arc::new(target), count);
    let connect_all = storm.all_up(CONNECT_DEADLINE).await?;
    tokio::time::sleep(SETTLE).await;
    let rss_after = status_kib(pod_pid, "VmRSS:")?;
    let ticks_before = cpu_ticks(pod_pid)?;
    let window = Instant::now();
    tokio::time::sleep(IDLE_WINDOW).await;
    let ticks = cpu_ticks(pod_pid)? - ticks_before;
    let cpu_ms = ticks as f64 * 1000.0 / clk_tck as f64;
    let per_second = cpu_ms / window.elapsed().as_secs_f64();
    let thousands = count as f64 / 1000.0;
    let per_session = rss_after.saturating_sub(rss_before) as f64 / count as f64;
    println!("sessions.count {count} sessions");
    println!("sessions.connect_all_s {:.2} s", connect_all.as_secs_f64());
    report_retries("sessions", &storm.retried());
    println!("sessions.rss_per_session_KiB {per_session:.1} KiB");
    println!(
        "sessions.idle_cpu_ms_per_s_per_1000 {:.1} ms/s",
        per_second / thousands
    );
    Ok(())
}
