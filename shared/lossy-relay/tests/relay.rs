//! End-to-end tests over real UDP sockets on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hopgate_lossy_relay::{Impairment, Relay, RelayConfig, RelayOptions, start, start_with};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

const TIMEOUT: Duration = Duration::from_secs(2);
const SIZE: usize = 1200;
/// Datagrams sent back to back before waiting, small enough for default socket buffers.
const WINDOW: u32 = 32;

async fn bind() -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap()
}

fn datagram(seq: u32) -> Vec<u8> {
    let mut data = vec![0xA5; SIZE];
    data[..4].copy_from_slice(&seq.to_be_bytes());
    data
}

fn seq_of(data: &[u8]) -> u32 {
    u32::from_be_bytes(data[..4].try_into().unwrap())
}

async fn recv_within(socket: &UdpSocket, wait: Duration) -> Option<(u32, SocketAddr)> {
    let mut buf = vec![0; 65_536];
    let (len, from) = timeout(wait, socket.recv_from(&mut buf))
        .await
        .ok()?
        .unwrap();
    assert_eq!(len, SIZE, "datagram truncated or padded");
    Some((seq_of(&buf[..len]), from))
}

async fn recv(socket: &UdpSocket) -> (u32, SocketAddr) {
    recv_within(socket, TIMEOUT)
        .await
        .expect("timed out waiting for a datagram")
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(1)).await;
    }
}

/// A UDP server that logs every arrival and optionally echoes it to its sender.
struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<(u32, SocketAddr)>>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn spawn(echo: bool) -> Self {
        let socket = bind().await;
        let addr = socket.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let log = log.clone();
            async move {
                let mut buf = vec![0; 65_536];
                loop {
                    let (len, peer) = socket.recv_from(&mut buf).await.unwrap();
                    log.lock().unwrap().push((seq_of(&buf[..len]), peer));
                    if echo {
                        socket.send_to(&buf[..len], peer).await.unwrap();
                    }
                }
            }
        });
        Self { addr, log, task }
    }

    fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    fn seqs(&self) -> Vec<u32> {
        self.log.lock().unwrap().iter().map(|&(s, _)| s).collect()
    }

    fn peers(&self) -> HashSet<SocketAddr> {
        self.log.lock().unwrap().iter().map(|&(_, p)| p).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends `0..total` to the relay in windows, waiting after each window until the relay
/// has read everything sent and the server has everything the relay forwarded.
async fn send_paced(client: &UdpSocket, relay: &Relay, server: &Server, total: u32) {
    let mut seq = 0;
    while seq < total {
        let end = (seq + WINDOW).min(total);
        for s in seq..end {
            client
                .send_to(&datagram(s), relay.local_addr())
                .await
                .unwrap();
        }
        seq = end;
        eventually("the relay and the server to catch up", || {
            let stats = relay.stats().to_server;
            stats.received == u64::from(seq) && server.count() as u64 == stats.forwarded
        })
        .await;
    }
}

fn inversions(seqs: &[u32]) -> usize {
    let mut max = None;
    let mut count = 0;
    for &s in seqs {
        match max {
            Some(m) if s < m => count += 1,
            _ => max = Some(s),
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_impairment_delivers_everything_in_order_both_ways() {
    let server = Server::spawn(true).await;
    let relay = start(RelayConfig::new(server.addr)).await.unwrap();
    let client = bind().await;
    let total = 2000;
    let mut expected = 0;
    while expected < total {
        let end = (expected + WINDOW).min(total);
        for s in expected..end {
            client
                .send_to(&datagram(s), relay.local_addr())
                .await
                .unwrap();
        }
        for s in expected..end {
            let (got, from) = recv(&client).await;
            assert_eq!(got, s, "echo out of order");
            assert_eq!(from, relay.local_addr(), "answers come from the relay");
        }
        expected = end;
    }
    assert_eq!(server.seqs(), (0..total).collect::<Vec<_>>());
    assert_eq!(server.peers().len(), 1);
    let stats = relay.stats();
    for dir in [stats.to_server, stats.to_client] {
        assert_eq!(dir.received, u64::from(total));
        assert_eq!(dir.forwarded, u64::from(total));
        assert_eq!(dir.dropped + dir.duplicated + dir.reordered + dir.errors, 0);
    }
    assert_eq!(stats.mappings, 1);
    assert!(
        recv_within(&client, Duration::from_millis(50))
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_all_delivers_nothing() {
    let server = Server::spawn(true).await;
    let relay = start(RelayConfig::symmetric(
        server.addr,
        Impairment::default().with_drop(1.0),
        7,
    ))
    .await
    .unwrap();
    let client = bind().await;
    for s in 0..200 {
        client
            .send_to(&datagram(s), relay.local_addr())
            .await
            .unwrap();
        if s % WINDOW == 0 {
            sleep(Duration::from_millis(1)).await;
        }
    }
    eventually("the relay to read everything", || {
        relay.stats().to_server.received == 200
    })
    .await;
    sleep(Duration::from_millis(100)).await;
    assert_eq!(server.count(), 0);
    let stats = relay.stats().to_server;
    assert_eq!((stats.dropped, stats.forwarded), (200, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directions_are_impaired_independently() {
    let server = Server::spawn(true).await;
    let config = RelayConfig {
        to_client: Impairment::default().with_drop(1.0),
        ..RelayConfig::new(server.addr)
    };
    let relay = start(config).await.unwrap();
    let client = bind().await;
    send_paced(&client, &relay, &server, 100).await;
    assert_eq!(server.seqs(), (0..100).collect::<Vec<_>>());
    eventually("the answers to reach the relay", || {
        relay.stats().to_client.received == 100
    })
    .await;
    assert!(
        recv_within(&client, Duration::from_millis(50))
            .await
            .is_none()
    );
    let stats = relay.stats();
    assert_eq!(
        (stats.to_server.forwarded, stats.to_server.dropped),
        (100, 0)
    );
    assert_eq!(
        (stats.to_client.forwarded, stats.to_client.dropped),
        (0, 100)
    );
}

async fn run_drop_rate(seed: u64) -> u64 {
    let server = Server::spawn(false).await;
    let config = RelayConfig {
        to_server: Impairment::default().with_drop(0.1),
        seed,
        ..RelayConfig::new(server.addr)
    };
    let relay = start(config).await.unwrap();
    let client = bind().await;
    let total = 5000;
    send_paced(&client, &relay, &server, total).await;
    let stats = relay.stats().to_server;
    assert_eq!(stats.received, u64::from(total));
    assert_eq!(stats.dropped + stats.forwarded, u64::from(total));
    assert_eq!(server.count() as u64, stats.forwarded);
    // Survivors keep their order.
    assert_eq!(inversions(&server.seqs()), 0);
    stats.dropped
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_rate_matches_probability_and_seed_reproduces_it() {
    let dropped = run_drop_rate(0x5EED).await;
    assert!(
        (450..=550).contains(&dropped),
        "dropped {dropped} of 5000 at p = 0.1"
    );
    assert_eq!(
        run_drop_rate(0x5EED).await,
        dropped,
        "same seed, same decisions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_all_doubles() {
    let server = Server::spawn(false).await;
    let config = RelayConfig {
        to_server: Impairment::default().with_duplicate(1.0),
        ..RelayConfig::new(server.addr)
    };
    let relay = start(config).await.unwrap();
    let client = bind().await;
    send_paced(&client, &relay, &server, 100).await;
    let mut counts = HashMap::new();
    for s in server.seqs() {
        *counts.entry(s).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 100);
    assert!(counts.values().all(|&c| c == 2), "{counts:?}");
    let stats = relay.stats().to_server;
    assert_eq!((stats.duplicated, stats.forwarded), (100, 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorder_reorders_but_loses_nothing() {
    let server = Server::spawn(false).await;
    let config = RelayConfig {
        to_server: Impairment::default().with_reorder(0.2),
        seed: 3,
        ..RelayConfig::new(server.addr)
    };
    let relay = start(config).await.unwrap();
    let client = bind().await;
    let total = 1000;
    send_paced(&client, &relay, &server, total).await;
    // The last held-back datagrams are released a few milliseconds later.
    eventually("every datagram to arrive", || {
        server.count() >= total as usize
    })
    .await;
    sleep(Duration::from_millis(20)).await;
    let seqs = server.seqs();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert!(
        sorted.iter().copied().eq(0..total),
        "not all arrived exactly once: {} arrivals",
        sorted.len()
    );
    let late = inversions(&seqs);
    assert!(late > 0, "nothing was overtaken");
    let stats = relay.stats().to_server;
    assert!(stats.reordered > 100 && stats.reordered < 300, "{stats:?}");
    assert!(late as u64 <= stats.reordered, "{late} late, {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_applies_each_way_and_keeps_order() {
    let server = Server::spawn(true).await;
    let delay = Duration::from_millis(20);
    let relay = start(RelayConfig::symmetric(
        server.addr,
        Impairment::default().with_delay(delay),
        1,
    ))
    .await
    .unwrap();
    let client = bind().await;
    for s in 0..3 {
        let sent = Instant::now();
        client
            .send_to(&datagram(s), relay.local_addr())
            .await
            .unwrap();
        assert_eq!(recv(&client).await.0, s);
        let rtt = sent.elapsed();
        assert!(rtt >= 2 * delay, "round trip {rtt:?} under 40 ms");
        assert!(rtt < Duration::from_millis(500), "round trip {rtt:?}");
    }
    // A burst keeps its order through the timer queue.
    for s in 10..10 + WINDOW {
        client
            .send_to(&datagram(s), relay.local_addr())
            .await
            .unwrap();
    }
    for s in 10..10 + WINDOW {
        assert_eq!(recv(&client).await.0, s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_gets_its_own_upstream_peer() {
    let server = Server::spawn(true).await;
    let relay = start(RelayConfig::new(server.addr)).await.unwrap();
    let a = bind().await;
    let b = bind().await;
    for round in 0..2 {
        a.send_to(&datagram(100 + round), relay.local_addr())
            .await
            .unwrap();
        b.send_to(&datagram(200 + round), relay.local_addr())
            .await
            .unwrap();
        assert_eq!(recv(&a).await.0, 100 + round);
        assert_eq!(recv(&b).await.0, 200 + round);
    }
    let log = server.log.lock().unwrap().clone();
    let peer_of = |range: std::ops::Range<u32>| {
        log.iter()
            .filter(|(s, _)| range.contains(s))
            .map(|&(_, p)| p)
            .collect::<HashSet<_>>()
    };
    let (peers_a, peers_b) = (peer_of(100..200), peer_of(200..300));
    assert_eq!(peers_a.len(), 1, "one peer per client: {peers_a:?}");
    assert_eq!(peers_b.len(), 1, "one peer per client: {peers_b:?}");
    assert_ne!(peers_a, peers_b);
    for peer in peers_a.union(&peers_b) {
        assert!(peer.ip().is_loopback());
        assert_ne!(*peer, relay.local_addr());
    }
    assert_eq!(relay.stats().mappings, 2);
    assert!(recv_within(&a, Duration::from_millis(50)).await.is_none());
}

#[tokio::test]
async fn invalid_configuration_is_rejected() {
    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, 9));
    let bad = [
        RelayConfig {
            to_server: Impairment::default().with_drop(1.5),
            ..RelayConfig::new(upstream)
        },
        RelayConfig {
            to_client: Impairment::default().with_duplicate(-0.1),
            ..RelayConfig::new(upstream)
        },
        RelayConfig::symmetric(upstream, Impairment::default().with_reorder(f64::NAN), 0),
        RelayConfig::symmetric(
            upstream,
            Impairment::default()
                .with_reorder_delay(Duration::from_millis(9), Duration::from_millis(1)),
            0,
        ),
    ];
    for config in bad {
        let err = start(config).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{config:?}");
    }
    let options = RelayOptions {
        idle_timeout: Duration::ZERO,
        ..RelayOptions::default()
    };
    let err = start_with(RelayConfig::new(upstream), options)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(start(RelayConfig::new(upstream)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_mappings_are_forgotten() {
    let server = Server::spawn(true).await;
    let options = RelayOptions {
        idle_timeout: Duration::from_millis(100),
        ..RelayOptions::default()
    };
    let relay = start_with(RelayConfig::new(server.addr), options)
        .await
        .unwrap();
    let client = bind().await;
    client
        .send_to(&datagram(1), relay.local_addr())
        .await
        .unwrap();
    assert_eq!(recv(&client).await.0, 1);
    assert_eq!(relay.stats().mappings, 1);
    // Traffic keeps the mapping alive.
    for s in 2..8 {
        sleep(Duration::from_millis(40)).await;
        client
            .send_to(&datagram(s), relay.local_addr())
            .await
            .unwrap();
        assert_eq!(recv(&client).await.0, s);
    }
    assert_eq!(server.peers().len(), 1);
    assert_eq!(relay.stats().mappings, 1);
    let old_peer = *server.peers().iter().next().unwrap();
    eventually("the idle mapping to go", || relay.stats().mappings == 0).await;
    // Its upstream socket is closed: the port can be bound again.
    eventually("the upstream port to be released", || {
        std::net::UdpSocket::bind(old_peer).is_ok()
    })
    .await;
    client
        .send_to(&datagram(9), relay.local_addr())
        .await
        .unwrap();
    assert_eq!(recv(&client).await.0, 9);
    assert_eq!(relay.stats().mappings, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_and_drop_close_the_sockets() {
    let server = Server::spawn(true).await;
    let client = bind().await;
    for explicit in [true, false] {
        let relay = start(RelayConfig::new(server.addr)).await.unwrap();
        let listen = relay.local_addr();
        client.send_to(&datagram(1), listen).await.unwrap();
        assert_eq!(recv(&client).await.0, 1);
        let peer = server.log.lock().unwrap().last().unwrap().1;
        if explicit {
            relay.shutdown().await;
        } else {
            drop(relay);
        }
        eventually("the relay's sockets to close", || {
            std::net::UdpSocket::bind(listen).is_ok() && std::net::UdpSocket::bind(peer).is_ok()
        })
        .await;
    }
}

/// Rough throughput figure of the relay alone (client and sink are blocking threads):
/// `cargo test -p hopgate-lossy-relay --test relay -- --ignored --nocapture`.
#[test]
#[ignore = "measurement, not a check"]
fn throughput() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for (name, impairment) in [
        ("none", Impairment::default()),
        (
            "delay 10 ms",
            Impairment::default().with_delay(Duration::from_millis(10)),
        ),
        (
            "1% drop, 1% reorder",
            Impairment::default().with_drop(0.01).with_reorder(0.01),
        ),
    ] {
        let server = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        server
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let server_addr = server.local_addr().unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sink = std::thread::spawn({
            let (counter, stop) = (received.clone(), stop.clone());
            move || {
                let mut buf = vec![0; 65_536];
                while !stop.load(Relaxed) {
                    if server.recv_from(&mut buf).is_ok() {
                        counter.fetch_add(1, Relaxed);
                    }
                }
            }
        });
        let relay = runtime
            .block_on(start(RelayConfig {
                to_server: impairment,
                ..RelayConfig::new(server_addr)
            }))
            .unwrap();
        let client = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let data = vec![0u8; 1300];
        let started = std::time::Instant::now();
        let mut sent = 0u64;
        while started.elapsed() < Duration::from_secs(2) {
            // Keep the relay's receive buffer from overflowing.
            if sent - relay.stats().to_server.received < 64 {
                for _ in 0..16 {
                    client.send_to(&data, relay.local_addr()).unwrap();
                }
                sent += 16;
            } else {
                std::thread::yield_now();
            }
        }
        let secs = started.elapsed().as_secs_f64();
        std::thread::sleep(Duration::from_millis(50));
        let stats = relay.stats().to_server;
        stop.store(true, Relaxed);
        sink.join().unwrap();
        println!(
            "{name}: relay forwarded {:.0} MB/s; sent {sent}, server got {}, {stats:?}",
            stats.forwarded as f64 * 1300.0 / secs / 1e6,
            received.load(Relaxed),
        );
    }
}
