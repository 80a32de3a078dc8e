//! The agent's path changes under a live session. A NAT rebinding (the agent's packets come
//! from a new source port) costs no request: the pod moves the session once a record from
//! the new port authenticates. Records an attacker sends from other ports of the agent's IP
//! — garbage, forged, replayed — move nothing, and a flood of them costs a bounded number
//! of trials.
//!
//! Real processes: a debug data-plane, the agent, a local HTTP service; the agent dials the
//! pod through a UDP relay that changes its source port on command.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use hopgate_e2e::{
    visits::{Outcome, outage},
    *,
};
use hopgate_lossy_relay::RelayConfig;
use tokio::net::UdpSocket;

/// [`hopgate_e2e::visits::requests_around`] for this file's domain, from now.
async fn requests_around(
    dp: &DataPlane,
    total: Duration,
    change_after: Duration,
    at: impl AsyncFnOnce(),
) -> (Vec<Outcome>, Duration) {
    let origin = Instant::now();
    visits::requests_around(dp, DOMAIN, origin, (total, change_after), at).await
}

const DOMAIN: &str = "app.gw.hopgate.test";
/// The agent's keepalive interval (the transport's default).
const KEEPALIVE: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nat_rebinding_costs_no_request_and_no_reconnection() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    dp.wait_ready(Duration::from_secs(10)).await;
    let service = start_local_service("127.0.0.1:0".parse().unwrap());
    let relay = hopgate_lossy_relay::start(RelayConfig::new(dp.dtls))
        .await
        .unwrap();
    let agent = Agent::start_via(&dp, relay.local_addr(), DOMAIN, service, KEY);
    agent.wait_connected(Duration::from_secs(10));
    assert_eq!(dp.status_of(DOMAIN, "/echo").await, 200);

    // A download in flight across the change: its reader stops after the first MiB, so
    // the rest waits in flow control and crosses on the new path.
    let size: u64 = 8 << 20;
    let visitor = dp.visitor(&[DOMAIN]);
    let mut download = visitor
        .get(format!("https://{DOMAIN}:{}/bytes/{size}", dp.https.port()))
        .send()
        .await
        .unwrap();
    let mut received = Vec::new();
    while received.len() < 1 << 20 {
        received.extend_from_slice(&download.chunk().await.unwrap().unwrap());
    }

    // Requests for a keepalive and more after the change.
    let (outcomes, changed_at) = requests_around(
        &dp,
        Duration::from_secs(5),
        Duration::from_secs(1),
        async || {
            assert_eq!(relay.rebind().await.unwrap(), 1);
        },
    )
    .await;
    finish_bytes_download(download, received, size).await;

    let failed: Vec<_> = outcomes.iter().filter(|o| !o.ok()).collect();
    let back_after = outage(&outcomes, changed_at);
    let slowest = outcomes.iter().map(|o| o.ended - o.started).max().unwrap();
    eprintln!(
        "{} requests, {} failed; service back {back_after:?} after the rebinding; slowest {slowest:?}",
        outcomes.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "failed: {failed:?}");
    assert!(outcomes.len() >= 25, "{outcomes:?}");
    // The pod learns the new port from the agent's next packet: at the latest its keepalive,
    // one interval after the last thing it heard (an answer 100 ms before the change). The
    // margin is for a loaded test machine.
    let bound = KEEPALIVE + Duration::from_millis(300);
    assert!(back_after < bound, "{outcomes:?}");
    assert!(slowest < bound, "{outcomes:?}");
    // The same session carried on: it moved, the agent never dialled again.
    let moved = "hopgate_dtls_migrations_total{result=\"moved\"}";
    assert_eq!(dp.metric(moved).await, 1);
    assert_eq!(
        dp.metric("hopgate_dtls_handshakes_total{result=\"ok\"}")
            .await,
        1
    );
    assert_eq!(dp.metric("hopgate_dtls_associations").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_migration_off_a_rebinding_costs_the_session() {
    let dp = DataPlane::start(&[DOMAIN], &[("HOP_SERVER_DTLS_MIGRATION_CANDIDATES", "0")]);
    dp.wait_ready(Duration::from_secs(10)).await;
    let service = start_local_service("127.0.0.1:0".parse().unwrap());
    let relay = hopgate_lossy_relay::start(RelayConfig::new(dp.dtls))
        .await
        .unwrap();
    let agent = Agent::start_via(&dp, relay.local_addr(), DOMAIN, service, KEY);
    agent.wait_connected(Duration::from_secs(10));
    let (outcomes, changed_at) = requests_around(
        &dp,
        Duration::from_secs(9),
        Duration::from_secs(1),
        async || {
            assert_eq!(relay.rebind().await.unwrap(), 1);
        },
    )
    .await;
    let failed = outcomes.iter().filter(|o| !o.ok()).count();
    let back_after = outage(&outcomes, changed_at);
    eprintln!("migration off: {failed} failed, service back {back_after:?} after the rebinding");
    // The agent found its session silent after a keepalive, could not reach the pod over
    // TCP (the relay carries only UDP) and dialled DTLS again at once, not after the UDP
    // probe's backoff (2.5 s at least) nor the session's idle timeout; requests held on
    // the lost session are answered once the pod gives up on it (4 s unheard: retried on
    // the new session) or fail.
    let bound = KEEPALIVE + Duration::from_secs(2);
    assert!(back_after < bound, "{failed} failed: {outcomes:?}");
    let moved = "hopgate_dtls_migrations_total{result=\"moved\"}";
    assert_eq!(dp.metric(moved).await, 0);
    assert_eq!(
        dp.metric("hopgate_dtls_handshakes_total{result=\"ok\"}")
            .await,
        2
    );
}

/// A UDP forwarder between the agent and the pod that keeps a copy of what the agent
/// sends: the records an on-path attacker could capture.
struct Tap {
    addr: SocketAddr,
    captured: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Tap {
    async fn start(pod: SocketAddr) -> Self {
        let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        back.connect(pod).await.unwrap();
        let addr = front.local_addr().unwrap();
        let captured: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let task = tokio::spawn({
            let captured = captured.clone();
            async move {
                let (mut up, mut down) = (vec![0u8; 65_536], vec![0u8; 65_536]);
                let mut agent = None;
                loop {
                    tokio::select! {
                        Ok((n, from)) = front.recv_from(&mut up) => {
                            agent = Some(from);
                            captured.lock().unwrap().push(up[..n].to_vec());
                            let _ = back.send(&up[..n]).await;
                        }
                        Ok(n) = back.recv(&mut down) => {
                            if let Some(agent) = agent {
                                let _ = front.send_to(&down[..n], agent).await;
                            }
                        }
                    }
                }
            }
        });
        Self {
            addr,
            captured,
            task,
        }
    }

    /// The last `n` application-data records the agent sent.
    fn records(&self, n: usize) -> Vec<Vec<u8>> {
        let captured = self.captured.lock().unwrap();
        let records: Vec<_> = captured.iter().filter(|d| d[0] == 23).cloned().collect();
        records[records.len().saturating_sub(n)..].to_vec()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An application-data record of epoch 1 with sequence `seq` that authenticates under no key.
fn forged_record(seq: u64, len: usize) -> Vec<u8> {
    let mut record = vec![23, 0xfe, 0xfd, 0, 1];
    record.extend_from_slice(&seq.to_be_bytes()[2..]);
    record.extend_from_slice(&(len as u16).to_be_bytes());
    record.extend((0..len).map(|i| (i * 31 + 7) as u8));
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_from_other_ports_of_the_agents_ip_move_nothing() {
    let trials_per_s = 32;
    let dp = DataPlane::start(&[DOMAIN], &[]);
    dp.wait_ready(Duration::from_secs(10)).await;
    let service = start_local_service("127.0.0.1:0".parse().unwrap());
    let tap = Tap::start(dp.dtls).await;
    let agent = Agent::start_via(&dp, tap.addr, DOMAIN, service, KEY);
    agent.wait_connected(Duration::from_secs(10));
    assert_eq!(dp.status_of(DOMAIN, "/echo").await, 200);
    let captured = tap.records(20);
    assert!(!captured.is_empty());

    // The attacker sends from other ports of the agent's IP (127.0.0.1) while visitors
    // keep coming: captured records replayed, forged records, garbage.
    let pod = dp.dtls;
    let flood = std::thread::spawn(move || {
        let started = Instant::now();
        let sockets: Vec<_> = (0..16)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        // Replayed, forged, garbage.
        let mut sent = [0u64; 3];
        for round in 0..400usize {
            for (i, socket) in sockets.iter().enumerate() {
                let kind = (round + i) % 3;
                let datagram = match kind {
                    0 => captured[(round + i) % captured.len()].clone(),
                    1 => forged_record(1 << 40 | round as u64, 48 + i * 50),
                    _ => (0..round % 200 + 1).map(|b| b as u8).collect(),
                };
                socket.send_to(&datagram, pod).unwrap();
                sent[kind] += 1;
            }
            // Paced so the pod's socket buffer keeps up (nothing is lost before it's read).
            if round % 8 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        (sent, started.elapsed())
    });
    let (outcomes, _) = requests_around(
        &dp,
        Duration::from_secs(2),
        Duration::from_secs(3),
        async || {},
    )
    .await;
    let ([replayed, forged, garbage], flood_took) = flood.join().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let failed: Vec<_> = outcomes.iter().filter(|o| !o.ok()).collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
    let metric = async |result: &str| {
        dp.metric(&format!(
            "hopgate_dtls_migrations_total{{result=\"{result}\"}}"
        ))
        .await
    };
    let (moved, unauthenticated, stale, rate_limited) = (
        metric("moved").await,
        metric("unauthenticated").await,
        metric("stale").await,
        metric("rate_limited").await,
    );
    eprintln!(
        "{replayed} replayed, {forged} forged, {garbage} garbage datagrams in {flood_took:?}: \
         moved {moved}, unauthenticated {unauthenticated}, stale {stale}, \
         rate_limited {rate_limited}"
    );
    assert_eq!(moved, 0);
    // Every replayed record was refused unread; forged ones were tried at most as often as
    // the IP's bucket allows (one second's worth, refilled while the flood lasted), the
    // rest dropped untried; garbage is no record at all.
    // (The kernel may drop a few datagrams on a loaded machine: nearly all are counted.)
    let nearly_all = |counted: u64, sent: u64| counted <= sent && counted >= sent * 9 / 10;
    assert!(nearly_all(stale, replayed), "{stale} of {replayed}");
    assert!(
        nearly_all(unauthenticated + rate_limited, forged),
        "of {forged}"
    );
    let allowed = trials_per_s * (2 + flood_took.as_secs_f64().ceil() as u64);
    assert!(
        (1..=allowed).contains(&unauthenticated),
        "{unauthenticated} trials, {allowed} allowed"
    );
    let unsolicited = "hopgate_dtls_dropped_datagrams_total{reason=\"unsolicited\"}";
    assert!(dp.metric(unsolicited).await >= garbage * 9 / 10);
    // The session stayed put and never reconnected.
    assert_eq!(
        dp.metric("hopgate_dtls_handshakes_total{result=\"ok\"}")
            .await,
        1
    );
    assert_eq!(dp.metric("hopgate_dtls_associations").await, 1);
    assert_eq!(dp.status_of(DOMAIN, "/echo").await, 200);
}
