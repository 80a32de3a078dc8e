//! Many agent sessions dialling one pod at once, as the session and storm benches need
//! them: each session says hello for its own development domain (`s<I>.<suffix>`, all
//! with one key), retries a lost or refused handshake as an agent does, then answers the
//! pod's pings until the process ends. With `SOURCE_IPS=n` in the environment the
//! sessions dial from n loopback addresses in turn (127.0.0.2, .3, …), as agents on n
//! hosts would, instead of all from the address the routes pick. Failed dials are counted
//! by reason ([`Storm::retried`]).

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use hopgate_protocol::{Frame, Hello, Limits};
use hopgate_transport::{
    ClientConfig, Fingerprint, RecvStream, SendStream, ServerVerification, Session,
};
use hopgate_tunnel::{FrameReader, FrameWriter, agent_hello};

/// The name every debug pod's certificate carries.
const SERVER_NAME: &str = "gw.hopgate.test";

/// How long every session may take to come up before a run fails.
pub(crate) const CONNECT_DEADLINE: Duration = Duration::from_secs(180);

/// The pod the sessions dial and what they say to it.
pub(crate) struct Target {
    pub(crate) dtls: SocketAddr,
    pub(crate) fingerprint: Fingerprint,
    pub(crate) key: String,
    pub(crate) suffix: String,
    /// What the sessions call themselves in their hello.
    pub(crate) agent_name: &'static str,
    /// Loopback addresses the sessions dial from in turn; 0: the routes pick one.
    pub(crate) source_ips: u8,
}

impl Target {
    /// From the command line's words: the pod's DTLS address and certificate fingerprint,
    /// the domains' key and their suffix.
    pub(crate) fn parse(
        dtls: &str,
        fingerprint: &str,
        key: &str,
        suffix: &str,
        agent_name: &'static str,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            dtls: dtls.parse().context("DTLS address")?,
            fingerprint: fingerprint
                .parse()
                .map_err(|e| anyhow::anyhow!("fingerprint: {e}"))?,
            key: key.to_owned(),
            suffix: suffix.to_owned(),
            agent_name,
            source_ips: match std::env::var("SOURCE_IPS") {
                Ok(n) => n
                    .parse()
                    .ok()
                    .filter(|n| (1..=250).contains(n))
                    .context("SOURCE_IPS: a number of addresses, 1 to 250")?,
                Err(_) => 0,
            },
        })
    }
}

/// Sessions dialled together; how many are up, and why dials failed.
pub(crate) struct Storm {
    count: usize,
    up: Arc<AtomicUsize>,
    failed: Arc<FailedDials>,
    started: Instant,
}

/// Dials that failed (and were retried), by reason: the error's text with its numbers
/// (addresses, durations) left out, so that one kind of failure counts as one reason.
#[derive(Default)]
pub(crate) struct FailedDials(Mutex<BTreeMap<String, usize>>);

impl FailedDials {
    fn count(&self, err: &anyhow::Error) {
        let reason: String = format!("{err:#}")
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect();
        let mut reasons = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *reasons.entry(reason).or_default() += 1;
    }
}

impl Storm {
    /// Starts `count` sessions at once, each on its own task.
    pub(crate) fn dial(target: Arc<Target>, count: usize) -> Self {
        let up = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(FailedDials::default());
        let started = Instant::now();
        for index in 0..count {
            tokio::spawn(hold_session(
                target.clone(),
                index,
                up.clone(),
                failed.clone(),
            ));
        }
        Self {
            count,
            up,
            failed,
            started,
        }
    }

    /// How many dials failed (each was retried), by reason.
    pub(crate) fn retried(&self) -> BTreeMap<String, usize> {
        self.failed
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until every session's hello was accepted; the time from the first dial.
    /// Fails if that takes longer than `deadline`.
    pub(crate) async fn all_up(&self, deadline: Duration) -> anyhow::Result<Duration> {
        while self.up.load(Ordering::Relaxed) < self.count {
            if self.started.elapsed() > deadline {
                bail!(
                    "only {} of {} sessions up after {deadline:?}",
                    self.up.load(Ordering::Relaxed),
                    self.count
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(self.started.elapsed())
    }
}

/// Prints `<prefix>.dial_retries` (failed dials, each retried) as a figure, and on stderr
/// how many failed for each reason.
pub(crate) fn report_retries(prefix: &str, reasons: &BTreeMap<String, usize>) {
    println!(
        "{prefix}.dial_retries {} dials",
        reasons.values().sum::<usize>()
    );
    for (reason, count) in reasons {
        eprintln!("{prefix}: {count} dials failed: {reason}");
    }
}

/// One session up and said hello (retrying as an agent does); then it answers the pod's
/// pings until the process ends.
async fn hold_session(
    target: Arc<Target>,
    index: usize,
    up: Arc<AtomicUsize>,
    failed: Arc<FailedDials>,
) {
    let mut config = ClientConfig::new(SERVER_NAME, ServerVerification::Pinned(target.fingerprint));
    if target.source_ips > 0 {
        let last = 2 + (index % usize::from(target.source_ips)) as u8;
        config.local_ip = Some(IpAddr::from([127, 0, 0, last]));
    }
    let domain = format!("s{index}.{}", target.suffix);
    let mut pause = Duration::from_millis(100);
    loop {
        match dial(&target, &config, &domain).await {
            Ok(control) => {
                up.fetch_add(1, Ordering::Relaxed);
                answer_pings(control).await;
                return;
            }
            Err(err) => failed.count(&err),
        }
        tokio::time::sleep(pause + Duration::from_millis(rand::random::<u64>() % 100)).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// A session and its control stream, both ways.
type Control = (Session, FrameReader<RecvStream>, FrameWriter<SendStream>);

async fn dial(target: &Target, config: &ClientConfig, domain: &str) -> anyhow::Result<Control> {
    let session = hopgate_transport::connect(target.dtls, config).await?;
    let (send, recv) = session.open_stream().await?;
    let mut writer = FrameWriter::for_small_frames(send, Limits::default());
    let mut reader = FrameReader::for_small_frames(recv, Limits::default());
    let hello = Hello::new(domain, target.key.as_str(), target.agent_name);
    let ack = agent_hello(&mut reader, &mut writer, hello).await?;
    if !ack.ok {
        bail!("{domain} refused: {}", ack.message);
    }
    Ok((session, reader, writer))
}

/// Answers the pod's pings for as long as the session lives (it is held until then).
async fn answer_pings((_session, mut reader, mut writer): Control) {
    while let Ok(Some(frame)) = reader.next().await {
        if let Frame::Ping(ping) = frame
            && writer.send(&Frame::Pong(ping.pong())).await.is_err()
        {
            return;
        }
    }
}
