//! Attacks on a domain's share of the gateway, against a data-plane run in-process: stalled
//! uploads, one client holding many requests, an agent whose streams are all taken. Each
//! must cost the attacker's own requests (a fast 503, a 408), never another tenant's or
//! another client's, and never leave a visitor hanging.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::*;
use hopgate_protocol::{Frame, Hello, Limits, ResponseHead};
use hopgate_transport::{Session, TransportConfig};
use hopgate_tunnel::{FrameReader, FrameWriter};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpSocket,
    sync::watch,
    task::JoinHandle,
};
use tokio_rustls::{TlsConnector, client::TlsStream};

const A: &str = "a.hopgate.test";
const B: &str = "b.hopgate.test";

/// Addresses on the loopback network, each a different visitor.
const ATTACKER: [u8; 4] = [127, 0, 0, 1];
const OTHER_ATTACKER: [u8; 4] = [127, 0, 0, 3];
const BYSTANDER: [u8; 4] = [127, 0, 0, 2];

/// What a stand-in agent saw.
#[derive(Default)]
struct Seen {
    /// `/hold` requests waiting for the release.
    holding: AtomicUsize,
    /// Request bodies that ended in a reset instead of their end.
    cut: AtomicUsize,
}

/// A stand-in agent for `domain` that lets the gateway open at most `max_streams` streams
/// at once. It answers every request `200 ok` once the body has ended, `/hold` only once
/// `release` turns true.
async fn holding_agent(
    dp: &DataPlane,
    domain: &str,
    max_streams: u32,
    release: watch::Receiver<bool>,
) -> (FakeAgent, Arc<Seen>) {
    let transport = TransportConfig {
        max_concurrent_streams: max_streams,
        ..TransportConfig::default()
    };
    let agent = fake_agent_with(dp, Hello::new(domain, KEY, "test"), transport).await;
    assert!(agent.ack.ok, "{:?}", agent.ack);
    let seen = Arc::new(Seen::default());
    tokio::spawn(accept(agent.session.clone(), release, seen.clone()));
    (agent, seen)
}

async fn accept(session: Session, release: watch::Receiver<bool>, seen: Arc<Seen>) {
    while let Ok((send, recv)) = session.accept_stream().await {
        let (release, seen) = (release.clone(), seen.clone());
        tokio::spawn(async move {
            let mut reader = FrameReader::new(recv, Limits::default());
            let mut writer = FrameWriter::new(send, Limits::default());
            let Ok(Some(Frame::RequestHead(head))) = reader.next().await else {
                return;
            };
            loop {
                match reader.next().await {
                    Ok(Some(Frame::BodyChunk(_))) => {}
                    Ok(Some(Frame::EndOfBody(_))) => break,
                    _ => {
                        seen.cut.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
            }
            if head.uri == "/hold" {
                seen.holding.fetch_add(1, Ordering::SeqCst);
                let mut release = release;
                let _ = release.wait_for(|go| *go).await;
                seen.holding.fetch_sub(1, Ordering::SeqCst);
            }
            let answer = ResponseHead {
                status: 200,
                headers: vec![],
            };
            let _ = writer.send(&Frame::ResponseHead(answer)).await;
            let _ = writer.send_body(bytes::Bytes::from_static(b"ok")).await;
            let _ = writer.send(&Frame::EndOfBody(Default::default())).await;
            let _ = writer.get_mut().finish();
        });
    }
}

/// A visitor's client from `from`, for `domains` on `dp`.
fn visitor_from(dp: &DataPlane, from: [u8; 4], domains: &[&str]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&dp.cert_pem).unwrap())
        .local_address(IpAddr::from(from))
        .timeout(Duration::from_secs(15));
    for domain in domains {
        builder = builder.resolve(domain, dp.https);
    }
    builder.build().unwrap()
}

fn url(dp: &DataPlane, domain: &str, path: &str) -> String {
    format!("https://{domain}:{}{path}", dp.https.port())
}

/// A GET's status and how long it took; a client error (such as a timeout) panics.
async fn timed_get(client: &reqwest::Client, url: &str) -> (u16, Duration, Option<String>) {
    let started = Instant::now();
    let response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e} after {:?}", started.elapsed()));
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status().as_u16();
    let _ = response.bytes().await;
    (status, started.elapsed(), retry_after)
}

/// A TLS connection to `dp` from `from`, speaking HTTP/1.1, for `domain`.
async fn tls_from(dp: &DataPlane, from: [u8; 4], domain: &str) -> TlsStream<tokio::net::TcpStream> {
    let config = dp.tls_http1();
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let tcp = socket.connect(dp.https).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from(domain.to_owned()).unwrap();
    TlsConnector::from(config).connect(name, tcp).await.unwrap()
}

/// The attack: a POST announcing a megabyte that sends one byte and then nothing. Resolves
/// to the status the gateway answered and when, measured from the byte.
async fn stalled_upload(dp: &DataPlane, from: [u8; 4]) -> (u16, Duration) {
    let mut tls = tls_from(dp, from, A).await;
    let head = format!("POST /upload HTTP/1.1\r\nHost: {A}\r\nContent-Length: 1000000\r\n\r\nx");
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.flush().await.unwrap();
    let sent = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(30), tls.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
            Ok(_) => panic!(
                "connection closed without an answer after {:?}",
                sent.elapsed()
            ),
            Err(_) => return (0, sent.elapsed()), // no answer: hung
        }
    }
    let status = String::from_utf8_lossy(&answer[9..12]).parse().unwrap();
    (status, sent.elapsed())
}

/// Polls until `done` or `limit` passes.
async fn eventually(limit: Duration, what: &str, done: impl Fn() -> bool) {
    poll_until(what, limit, || std::future::ready(done())).await;
}

async fn rejected(dp: &DataPlane, reason: &str) -> u64 {
    dp.metric(&format!("hopgate_rejected_total{{reason=\"{reason}\"}}"))
        .await
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A well-behaved visitor's GET of `url` every 50 ms until the sender turns true; each
/// must be a 200. Resolves to how long each took.
fn spawn_bystander_probe(
    client: reqwest::Client,
    url: String,
) -> (watch::Sender<bool>, JoinHandle<Vec<Duration>>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let probe = tokio::spawn(async move {
        let mut took = Vec::new();
        while !*stop_rx.borrow() {
            let (status, elapsed, _) = timed_get(&client, &url).await;
            assert_eq!(status, 200, "b.test during the attack");
            took.push(elapsed);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        took
    });
    (stop_tx, probe)
}

/// `count` stalled uploads to a.test from `from`, each in its own task.
fn spawn_stalled_uploads(
    dp: &Arc<DataPlane>,
    from: [u8; 4],
    count: usize,
) -> Vec<JoinHandle<(u16, Duration)>> {
    (0..count)
        .map(|_| {
            let dp = dp.clone();
            tokio::spawn(async move { stalled_upload(&dp, from).await })
        })
        .collect()
}

/// 24 stalled uploads from one address: 8 fit its cap, 16 are refused at once, and a.test
/// still serves someone else. Resolves to the 8 admitted uploads, still running.
async fn one_address_gets_only_its_clients_cap(
    dp: &Arc<DataPlane>,
    bystander: &reqwest::Client,
) -> Vec<JoinHandle<(u16, Duration)>> {
    let attack = spawn_stalled_uploads(dp, ATTACKER, 24);
    eventually(Duration::from_secs(20), "16 uploads refused", || {
        attack.iter().filter(|t| t.is_finished()).count() >= 16
    })
    .await;
    let mut stalled = Vec::new();
    for task in attack {
        if task.is_finished() {
            let (status, took) = task.await.unwrap();
            assert_eq!(status, 503, "an upload over the client's cap");
            assert!(took < Duration::from_secs(1), "refused after {took:?}");
        } else {
            stalled.push(task);
        }
    }
    assert_eq!(stalled.len(), 8, "the client's cap");
    let (status, took, _) = timed_get(bystander, &url(dp, A, "/")).await;
    assert_eq!(status, 200, "a.test for another client ({took:?})");
    stalled
}

/// A second attacker fills the domain's cap (4 more places): a.test turns to fast 503s
/// that say when to retry. Its 8 uploads join `stalled`.
async fn a_second_address_fills_the_domains_cap(
    dp: &Arc<DataPlane>,
    bystander: &reqwest::Client,
    stalled: &mut Vec<JoinHandle<(u16, Duration)>>,
) {
    stalled.extend(spawn_stalled_uploads(dp, OTHER_ATTACKER, 8));
    eventually(Duration::from_secs(20), "4 more uploads refused", || {
        stalled.iter().filter(|t| t.is_finished()).count() >= 4
    })
    .await;
    let (status, took, retry_after) = timed_get(bystander, &url(dp, A, "/")).await;
    assert_eq!(status, 503, "a.test at its cap");
    assert!(took < Duration::from_secs(1), "a.test's 503 took {took:?}");
    assert!(retry_after.is_some(), "a 503 says when to retry");
}

/// The stalled uploads are cut after the body timeout: 408, and the agent's side of each
/// stream is reset.
async fn the_admitted_uploads_are_cut_after_the_body_timeout(
    stalled: Vec<JoinHandle<(u16, Duration)>>,
    seen_a: &Seen,
) {
    let mut cut = 0;
    for task in stalled {
        let (status, took) = task.await.unwrap();
        match status {
            503 => {}
            408 => {
                cut += 1;
                assert!(
                    took >= Duration::from_millis(2900) && took < Duration::from_secs(12),
                    "cut after {took:?}"
                );
            }
            other => panic!("a stalled upload got {other} after {took:?}"),
        }
    }
    assert_eq!(cut, 12, "every admitted upload is cut");
    eventually(
        Duration::from_secs(10),
        "12 bodies reset at the agent",
        || seen_a.cut.load(Ordering::SeqCst) == 12,
    )
    .await;
}

/// b.test's visitor, probing all through the attack, was never slowed down.
async fn the_other_domain_was_served_throughout(
    stop: &watch::Sender<bool>,
    probe: JoinHandle<Vec<Duration>>,
    attack_lasted: Duration,
) {
    stop.send(true).unwrap();
    let mut took = probe.await.unwrap();
    took.sort();
    let max = *took.last().unwrap();
    println!(
        "b.test during the attack ({attack_lasted:?}): {} requests, p50 {:?}, max {max:?}",
        took.len(),
        percentile(&took, 0.5)
    );
    assert!(took.len() >= 10, "{} probes", took.len());
    assert!(max < Duration::from_secs(1), "b.test took {max:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_cost_only_their_own_domain_and_are_cut() {
    // Scaled down: a.test's agent takes 16 streams at once; the caps sit below that.
    let dp = DataPlane::in_process(
        &[A, B],
        &[
            ("HOP_SERVER_BODY_TIMEOUT", "3s"),
            ("HOP_SERVER_MAX_REQUESTS_PER_DOMAIN", "12"),
            ("HOP_SERVER_MAX_REQUESTS_PER_CLIENT", "8"),
        ],
    );
    let (_release, never) = watch::channel(false);
    let (_agent_a, seen_a) = holding_agent(&dp, A, 16, never.clone()).await;
    let (_agent_b, _) = holding_agent(&dp, B, 1024, never).await;
    let dp = Arc::new(dp);
    let bystander = visitor_from(&dp, BYSTANDER, &[A, B]);
    let (stop_probe, probe) = spawn_bystander_probe(bystander.clone(), url(&dp, B, "/"));

    let attack_started = Instant::now();
    let mut stalled = one_address_gets_only_its_clients_cap(&dp, &bystander).await;
    a_second_address_fills_the_domains_cap(&dp, &bystander, &mut stalled).await;
    the_admitted_uploads_are_cut_after_the_body_timeout(stalled, &seen_a).await;
    let attack_lasted = attack_started.elapsed();

    // And a.test is whole again.
    let (status, _, _) = timed_get(&bystander, &url(&dp, A, "/")).await;
    assert_eq!(status, 200, "a.test after the attack");
    the_other_domain_was_served_throughout(&stop_probe, probe, attack_lasted).await;
    assert_eq!(rejected(&dp, "client_busy").await, 16);
    assert_eq!(rejected(&dp, "domain_busy").await, 5);
    assert_eq!(rejected(&dp, "body_stalled").await, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_cap_gets_503_while_another_client_is_served() {
    let dp = DataPlane::in_process(&[A], &[("HOP_SERVER_MAX_REQUESTS_PER_CLIENT", "4")]);
    let (release, on_release) = watch::channel(false);
    let (_agent, seen) = holding_agent(&dp, A, 1024, on_release).await;
    let greedy = visitor_from(&dp, ATTACKER, &[A]);
    let other = visitor_from(&dp, BYSTANDER, &[A]);

    let mut held = Vec::new();
    for _ in 0..4 {
        let (client, url) = (greedy.clone(), url(&dp, A, "/hold"));
        held.push(tokio::spawn(async move { timed_get(&client, &url).await }));
    }
    eventually(Duration::from_secs(10), "4 requests held", || {
        seen.holding.load(Ordering::SeqCst) == 4
    })
    .await;

    let (status, took, retry_after) = timed_get(&greedy, &url(&dp, A, "/")).await;
    assert_eq!(status, 503, "the fifth request from one client");
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    assert_eq!(retry_after.as_deref(), Some("2"));
    let (status, _, _) = timed_get(&other, &url(&dp, A, "/")).await;
    assert_eq!(status, 200, "another client");
    assert_eq!(rejected(&dp, "client_busy").await, 1);

    // The held requests end: the client has its places back.
    release.send(true).unwrap();
    for task in held {
        assert_eq!(task.await.unwrap().0, 200);
    }
    let (status, _, _) = timed_get(&greedy, &url(&dp, A, "/")).await;
    assert_eq!(status, 200, "the client after its requests ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_free_stream_on_the_agents_session_is_a_503_after_the_stream_wait() {
    let dp = DataPlane::in_process(&[A], &[("HOP_SERVER_STREAM_WAIT", "1s")]);
    let (release, on_release) = watch::channel(false);
    // The agent takes two streams at once; both are held.
    let (_agent, seen) = holding_agent(&dp, A, 2, on_release).await;
    let visitor = visitor_from(&dp, ATTACKER, &[A]);
    let mut held = Vec::new();
    for _ in 0..2 {
        let (client, url) = (visitor.clone(), url(&dp, A, "/hold"));
        held.push(tokio::spawn(async move { timed_get(&client, &url).await }));
    }
    eventually(Duration::from_secs(10), "2 requests held", || {
        seen.holding.load(Ordering::SeqCst) == 2
    })
    .await;

    let (status, took, retry_after) = timed_get(&visitor, &url(&dp, A, "/")).await;
    assert_eq!(status, 503, "no stream within the wait");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "answered after {took:?}"
    );
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert_eq!(rejected(&dp, "stream_wait").await, 1);

    release.send(true).unwrap();
    for task in held {
        assert_eq!(task.await.unwrap().0, 200);
    }
    let (status, _, _) = timed_get(&visitor, &url(&dp, A, "/")).await;
    assert_eq!(status, 200, "streams free again");
}
