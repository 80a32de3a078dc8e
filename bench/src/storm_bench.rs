//! `hopgate-storm-bench`: what a storm of agent handshakes costs an established session.
//! A visitor requests a domain served through a real agent at a fixed rate (200 a second,
//! one at a time, keep-alive HTTPS to the pod) and times every request; after a baseline,
//! `COUNT` more agent sessions dial the pod at once (one development domain each,
//! `s<I>.<suffix>`, retrying as agents do) while the visitor keeps its rate. A second
//! visitor requests the local service directly (plain HTTP, same rate) as the reference
//! for how busy the machine itself was. Both request [`PATH`].
//!
//! Windows, by when a request started: the baseline is the [`BASELINE`] before the first
//! dial (after a [`WARM_UP`]); the storm is from the first dial until every session's hello
//! was accepted, plus [`AFTER`].
//!
//! Prints (`name value unit`): `storm.baseline_p50_ms`, `storm.baseline_p99_ms`,
//! `storm.during_p50_ms`, `storm.during_p99_ms`, `storm.p99_ratio` (during / baseline),
//! `storm.connect_all_s`, `storm.dial_retries` (the storm's dials that failed and were
//! retried; stderr says why), `storm.failed` (the visitor's requests that failed in either
//! window), the requests in each window, the direct visitor's p99s and ratio, the pod's
//! CPU time per dialled session beyond its baseline rate (in all, and by kind of thread:
//! `storm.pod_cpu_ms_per_session.<thread>`, threads named without their number), and this
//! process's CPU time during the storm per session (the dialling side's handshakes, on the
//! same cores), the datagrams the kernel dropped on their way to the pod's DTLS socket
//! during the storm (a full receive buffer: lost flights are retransmitted, which stretches
//! the storm) and the pod's peak resident memory.
//!
//! The dialling sessions stand for agents on other hosts, but share this machine's cores
//! with the pod and both visitors: their threads run at nice `STORM_DIALLER_NICE` (19 by
//! default, 0 for the same priority as everything else), so their own public-key work
//! takes the cores the pod, the agent, the service and the visitors leave idle instead of
//! competing with them. The pod's handshake work is not lowered by it; the pod runs at
//! its own priorities (its handshake thread at nice 10). Printed as `storm.dialler_nice`.
//!
//! With `STORM_PERF_DATA=FILE`, `perf record` (call graphs) samples the pod into FILE
//! during the storm (perf's own cost then weighs on the figures).
//!
//! Usage: `hopgate-storm-bench HTTPS_ADDR DOMAIN CERT_PEM SERVICE_ADDR DTLS_ADDR FINGERPRINT
//! KEY SUFFIX COUNT POD_PID CLK_TCK` (bench/storm.sh starts the pod, the agent and the
//! service and passes these).

mod agents;
mod procfs;
mod storm;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use agents::{CONNECT_DEADLINE, Storm, Target, report_retries};
use anyhow::{Context, bail};
use procfs::{cpu_ticks, status_kib};
use storm::{
    probe::{self, Sample, Window},
    profile::Recording,
    threads::thread_cpu_ticks,
    udp::socket_drops,
};

/// What both visitors request: a 100-byte file.
const PATH: &str = "/100b";
/// Requests before the baseline: connections are set up and warm.
const WARM_UP: Duration = Duration::from_secs(1);
/// How long the baseline is measured.
const BASELINE: Duration = Duration::from_secs(10);
/// How long the storm window lasts after the last session is up.
const AFTER: Duration = Duration::from_secs(1);

struct Args {
    https: SocketAddr,
    domain: String,
    cert_pem: Vec<u8>,
    service: SocketAddr,
    target: Target,
    count: usize,
    pod_pid: u32,
    clk_tck: u64,
}

fn args() -> anyhow::Result<Args> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let [
        https,
        domain,
        cert,
        service,
        dtls,
        fingerprint,
        key,
        suffix,
        count,
        pod_pid,
        clk_tck,
    ] = argv.as_slice()
    else {
        bail!(
            "usage: hopgate-storm-bench HTTPS DOMAIN CERT_PEM SERVICE_ADDR DTLS FINGERPRINT KEY \
             SUFFIX COUNT POD_PID CLK_TCK"
        );
    };
    Ok(Args {
        https: https.parse().context("HTTPS address")?,
        domain: domain.clone(),
        cert_pem: std::fs::read(cert).with_context(|| format!("reading {cert}"))?,
        service: service.parse().context("service address")?,
        target: Target::parse(dtls, fingerprint, key, suffix, "storm-bench")?,
        count: count.parse().context("COUNT")?,
        pod_pid: pod_pid.parse().context("POD_PID")?,
        clk_tck: clk_tck.parse().context("CLK_TCK")?,
    })
}

/// Both visitors, on a thread and runtime of their own so that the dialling sessions'
/// tasks never delay their timers.
struct Visitors {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<anyhow::Result<(Vec<Sample>, Vec<Sample>)>>,
}

impl Visitors {
    fn start(args: &Args) -> anyhow::Result<Self> {
        let tunnel = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&args.cert_pem)?)
            .resolve(&args.domain, args.https)
            .build()?;
        let tunnel_url = format!("https://{}:{}{PATH}", args.domain, args.https.port());
        let direct = reqwest::Client::builder().build()?;
        let direct_url = format!("http://{}{PATH}", args.service);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(runtime.block_on(async move {
                let tunnel = tokio::spawn(probe::run(tunnel, tunnel_url, stopped.clone()));
                let direct = probe::run(direct, direct_url, stopped).await;
                (tunnel.await.unwrap_or_default(), direct)
            }))
        });
        Ok(Self { stop, thread })
    }

    /// Stops both; the tunnel visitor's samples and the direct one's.
    fn stop(self) -> anyhow::Result<(Vec<Sample>, Vec<Sample>)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the visitors' thread panicked"))?
    }
}

/// CPU time in milliseconds from clock ticks.
fn ticks_ms(ticks: u64, clk_tck: u64) -> f64 {
    ticks as f64 * 1000.0 / clk_tck as f64
}

/// Each kind of thread's CPU time between two readings, in milliseconds (a kind whose
/// threads all ended counts from zero).
fn ticks_since(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    clk_tck: u64,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(kind, &ticks)| {
            let earlier = before.get(kind).copied().unwrap_or(0);
            (
                kind.clone(),
                ticks_ms(ticks.saturating_sub(earlier), clk_tck),
            )
        })
        .collect()
}

/// The dialling side's nice value: `STORM_DIALLER_NICE`, 19 unless set.
fn dialler_nice() -> anyhow::Result<i32> {
    match std::env::var("STORM_DIALLER_NICE") {
        Ok(nice) => nice
            .parse()
            .ok()
            .filter(|n| (0..=19).contains(n))
            .context("STORM_DIALLER_NICE: a nice value, 0 to 19"),
        Err(_) => Ok(19),
    }
}

/// Lowers the calling thread's priority by `nice` (Linux: per thread).
fn lower_priority(nice: i32) {
    if let Err(err) = rustix::process::nice(nice) {
        eprintln!("storm: could not lower a dialling thread's priority: {err}");
    }
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    let count = args.count;
    let nice = dialler_nice()?;
    // The dialling sessions' tasks run on the workers; `measure` itself, and the visitors'
    // thread it starts, stay on this thread's priority.
    let measured = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(move || lower_priority(nice))
        .enable_all()
        .build()?
        .block_on(measure(args))?;
    report(&measured, count, nice);
    Ok(())
}

/// What one run measured. CPU times are in milliseconds.
struct Measured {
    baseline: (Instant, Instant),
    storm: (Instant, Instant),
    connect_all: Duration,
    /// Failed dials (each retried), by reason.
    retried: std::collections::BTreeMap<String, usize>,
    tunnel: Vec<Sample>,
    direct: Vec<Sample>,
    pod_baseline_cpu_ms: f64,
    pod_storm_cpu_ms: f64,
    /// The pod's CPU time by kind of thread, in the baseline and in the storm.
    pod_threads_baseline_ms: BTreeMap<String, f64>,
    pod_threads_storm_ms: BTreeMap<String, f64>,
    own_storm_cpu_ms: f64,
    pod_peak_kib: u64,
    pod_drops: u64,
}

/// The baseline, then the storm, with both visitors running throughout.
async fn measure(args: Args) -> anyhow::Result<Measured> {
    let (pod_pid, clk_tck, dtls) = (args.pod_pid, args.clk_tck, args.target.dtls);
    let pod_cpu_ms = || anyhow::Ok(ticks_ms(cpu_ticks(pod_pid)?, clk_tck));
    let own_cpu_ms = || anyhow::Ok(ticks_ms(cpu_ticks(std::process::id())?, clk_tck));
    let pod_threads = || thread_cpu_ticks(pod_pid);
    let visitors = Visitors::start(&args)?;
    tokio::time::sleep(WARM_UP).await;
    let baseline_from = Instant::now();
    let (pod_before_baseline, threads_before_baseline) = (pod_cpu_ms()?, pod_threads()?);
    tokio::time::sleep(BASELINE).await;
    let baseline = (baseline_from, Instant::now());
    let pod_baseline_cpu_ms = pod_cpu_ms()? - pod_before_baseline;
    let pod_threads_baseline_ms = ticks_since(&threads_before_baseline, &pod_threads()?, clk_tck);
    let recording = match std::env::var_os("STORM_PERF_DATA") {
        Some(path) => Some(Recording::start(pod_pid, path.into()).await?),
        None => None,
    };
    let (pod_before, own_before, drops_before) =
        (pod_cpu_ms()?, own_cpu_ms()?, socket_drops(dtls)?);
    let threads_before = pod_threads()?;
    let storm_from = Instant::now();
    let storm = Storm::dial(Arc::new(args.target), args.count);
    let connect_all = storm.all_up(CONNECT_DEADLINE).await?;
    let retried = storm.retried();
    tokio::time::sleep(AFTER).await;
    let storm_until = Instant::now();
    let pod_storm_cpu_ms = pod_cpu_ms()? - pod_before;
    let pod_threads_storm_ms = ticks_since(&threads_before, &pod_threads()?, clk_tck);
    let own_storm_cpu_ms = own_cpu_ms()? - own_before;
    let pod_drops = socket_drops(dtls)? - drops_before;
    if let Some(recording) = recording {
        recording.stop()?;
    }
    let (tunnel, direct) = visitors.stop()?;
    Ok(Measured {
        baseline,
        storm: (storm_from, storm_until),
        connect_all,
        retried,
        tunnel,
        direct,
        pod_baseline_cpu_ms,
        pod_storm_cpu_ms,
        pod_threads_baseline_ms,
        pod_threads_storm_ms,
        own_storm_cpu_ms,
        pod_peak_kib: status_kib(pod_pid, "VmHWM:")?,
        pod_drops,
    })
}

/// Prints the figures, one a line.
fn report(m: &Measured, count: usize, dialler_nice: i32) {
    let window =
        |samples: &[Sample], (from, until): (Instant, Instant)| Window::of(samples, from, until);
    let (baseline, during) = (window(&m.tunnel, m.baseline), window(&m.tunnel, m.storm));
    let direct_baseline = window(&m.direct, m.baseline);
    let direct_during = window(&m.direct, m.storm);
    let seconds = |(from, until): (Instant, Instant)| (until - from).as_secs_f64();
    // CPU time in the storm beyond what the baseline's rate would have spent in it.
    let beyond_baseline = |baseline_ms: f64, storm_ms: f64| {
        storm_ms - baseline_ms * seconds(m.storm) / seconds(m.baseline)
    };
    let pod_extra_ms = beyond_baseline(m.pod_baseline_cpu_ms, m.pod_storm_cpu_ms);
    let per_session = |ms: f64| ms / count as f64;

    println!("storm.count {count} sessions");
    println!("storm.dialler_nice {dialler_nice} nice");
    println!("storm.baseline_p50_ms {:.3} ms", baseline.quantile_ms(0.50));
    println!("storm.baseline_p99_ms {:.3} ms", baseline.quantile_ms(0.99));
    println!("storm.during_p50_ms {:.3} ms", during.quantile_ms(0.50));
    println!("storm.during_p99_ms {:.3} ms", during.quantile_ms(0.99));
    println!("storm.p99_ratio {:.2} x", ratio_of_p99(&during, &baseline));
    println!("storm.connect_all_s {:.2} s", m.connect_all.as_secs_f64());
    report_retries("storm", &m.retried);
    println!("storm.failed {} requests", baseline.failed + during.failed);
    println!("storm.baseline_requests {} requests", baseline.requests());
    println!("storm.during_requests {} requests", during.requests());
    let direct_p99 = |w: &Window| w.quantile_ms(0.99);
    println!(
        "storm.direct_baseline_p99_ms {:.3} ms",
        direct_p99(&direct_baseline)
    );
    println!(
        "storm.direct_during_p99_ms {:.3} ms",
        direct_p99(&direct_during)
    );
    let direct_ratio = ratio_of_p99(&direct_during, &direct_baseline);
    println!("storm.direct_p99_ratio {direct_ratio:.2} x");
    let direct_failed = direct_baseline.failed + direct_during.failed;
    println!("storm.direct_failed {direct_failed} requests");
    println!(
        "storm.pod_cpu_ms_per_session {:.2} ms",
        per_session(pod_extra_ms)
    );
    for (kind, storm_ms) in &m.pod_threads_storm_ms {
        let baseline_ms = m.pod_threads_baseline_ms.get(kind).copied().unwrap_or(0.0);
        let extra_ms = beyond_baseline(baseline_ms, *storm_ms);
        println!(
            "storm.pod_cpu_ms_per_session.{kind} {:.3} ms",
            per_session(extra_ms)
        );
    }
    let own = per_session(m.own_storm_cpu_ms);
    println!("storm.dialling_side_cpu_ms_per_session {own:.2} ms");
    println!("storm.pod_udp_drops {} datagrams", m.pod_drops);
    println!(
        "storm.pod_peak_rss_MiB {:.1} MiB",
        m.pod_peak_kib as f64 / 1024.0
    );
}

fn ratio_of_p99(during: &Window, baseline: &Window) -> f64 {
    during.quantile_ms(0.99) / baseline.quantile_ms(0.99)
}
