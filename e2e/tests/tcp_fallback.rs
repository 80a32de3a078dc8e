//! Agents whose UDP is blocked, with real processes: the agent is given a UDP address that
//! never answers (a bound socket nobody reads) and the pod's HTTPS port for TCP; its
//! session runs over TLS (ALPN `hopgate-tunnel/1`) on the same port visitors use.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::{SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use hopgate_e2e::{websocket_echo::*, *};
use hopgate_test_support::PausableRelay;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const DOMAIN: &str = "tcp.hopgate.test";
const OTHER: &str = "other.hopgate.test";
const MIB: usize = 1024 * 1024;

/// A UDP address where nothing ever answers, held as long as the test runs.
fn blackhole() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// The agent for `domain`, its UDP pointed at `udp`, its TCP at `tcp`, with `args`.
fn start_agent(
    dp: &DataPlane,
    udp: &UdpSocket,
    tcp: SocketAddr,
    domain: &str,
    target: SocketAddr,
    args: &[&str],
) -> Agent {
    let tcp = tcp.to_string();
    let mut all = vec!["--tcp-server", tcp.as_str()];
    all.extend_from_slice(args);
    Agent::start_via_with_args(dp, udp.local_addr().unwrap(), domain, target, &all)
}

fn url(dp: &DataPlane, domain: &str, path: &str) -> String {
    format!("https://{domain}:{}{path}", dp.https.port())
}

fn connected_line(agent: &Agent, within: Duration) -> String {
    agent
        .output
        .wait_for("`connected` line", within, |l| l.starts_with("connected"))
}

/// 100 MiB down and 100 MiB up, each checked byte for byte (pattern, SHA-256).
async fn bulk_both_ways(dp: &DataPlane, visitor: &reqwest::Client) {
    let total = 100 * MIB as u64;
    let response = visitor
        .get(url(dp, DOMAIN, &format!("/bytes/{total}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut offset = 0u64;
    while let Some(chunk) = body.next().await {
        for byte in chunk.unwrap() {
            assert_eq!(byte, pattern(offset), "byte {offset} of the download");
            offset += 1;
        }
    }
    assert_eq!(offset, total);
    let upload: Vec<u8> = (0..100 * MIB).map(|i| (i % 253) as u8).collect();
    let digest = hex::encode(Sha256::digest(&upload));
    let response = visitor
        .post(url(dp, DOMAIN, "/echo"))
        .body(upload)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-body-len"], (100 * MIB).to_string());
    assert_eq!(response.headers()["x-body-sha256"], digest.as_str());
}

/// Server-sent events arrive one by one as they are sent (100 ms apart), not at the end.
async fn events_stream(dp: &DataPlane, visitor: &reqwest::Client) {
    let response = visitor
        .get(url(dp, DOMAIN, "/events/5"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let started = Instant::now();
    let mut body = response.bytes_stream();
    let (mut text, mut first_at) = (String::new(), None);
    while let Some(chunk) = body.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        first_at.get_or_insert(started.elapsed());
    }
    assert_eq!(
        text,
        (0..5).map(|i| format!("data: {i}\n\n")).collect::<String>()
    );
    let streamed_for = started.elapsed() - first_at.unwrap();
    assert!(
        streamed_for >= Duration::from_millis(300),
        "events came at once ({streamed_for:?})"
    );
}

/// 200 requests at once, every one answered.
async fn many_at_once(dp: &DataPlane, visitor: &reqwest::Client) {
    let requests = (0..200).map(|i| {
        let request = visitor.get(url(dp, DOMAIN, &format!("/echo?i={i}")));
        async move { request.send().await.unwrap() }
    });
    for (i, response) in futures_util::future::join_all(requests)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-query"], format!("i={i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_udp_blackholed_the_agent_serves_over_tcp_on_the_https_port() {
    let dp = DataPlane::start(&[DOMAIN, OTHER], &[]);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let (ws_local, _) = start_echo_server().await;
    let udp = blackhole();
    let started = Instant::now();
    let agent = start_agent(&dp, &udp, dp.https, DOMAIN, local, &[]);
    let line = connected_line(&agent, Duration::from_secs(5));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // DTLS gives up on its flights, or `auto`'s 3 s run out: whichever comes first.
    assert!(
        line.contains(" over tcp (udp did not answer within "),
        "{line}"
    );
    agent
        .logs
        .wait_for("JSON `connected`", Duration::from_secs(1), |l| {
            l.contains("\"msg\":\"connected\"") && l.contains("\"transport\":\"tcp\"")
        });
    let visitor = dp.visitor(&[DOMAIN, OTHER]);
    assert_eq!(dp.try_status(&visitor, DOMAIN, "/echo").await, 200);
    bulk_both_ways(&dp, &visitor).await;
    events_stream(&dp, &visitor).await;
    many_at_once(&dp, &visitor).await;

    let ws_agent = start_agent(
        &dp,
        &udp,
        dp.https,
        OTHER,
        ws_local,
        &["--transport", "tcp"],
    );
    connected_line(&ws_agent, Duration::from_secs(5));
    let mut ws = visit_host(&dp, OTHER, "/chat").await.unwrap();
    expect_echo(&mut ws, Message::text("over tcp")).await;
    expect_echo(&mut ws, Message::binary(vec![7u8; 100_000])).await;
    assert_eq!(
        dp.metric("hopgate_transport_sessions{transport=\"tcp\"}")
            .await,
        2
    );
    assert_eq!(
        dp.metric("hopgate_transport_sessions{transport=\"udp\"}")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_tcp_connects_at_once_and_forced_udp_never_falls_back() {
    let dp = DataPlane::start(&[DOMAIN, OTHER], &[]);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let udp = blackhole();
    let started = Instant::now();
    let over_tcp = start_agent(&dp, &udp, dp.https, DOMAIN, local, &["--transport", "tcp"]);
    let line = connected_line(&over_tcp, Duration::from_secs(5));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(line.contains(" over tcp (session ready in "), "{line}");
    assert_eq!(dp.status_of(DOMAIN, "/echo").await, 200);

    let udp_only = start_agent(&dp, &udp, dp.https, OTHER, local, &["--transport", "udp"]);
    // Well past `auto`'s 3 s: still no session, and none over TCP.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !udp_only.output.contains("connected"),
        "{}",
        udp_only.output.text()
    );
    assert_eq!(
        dp.metric("hopgate_transport_sessions{transport=\"tcp\"}")
            .await,
        1
    );
    assert_eq!(dp.status_of(OTHER, "/echo").await, 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_certificate_over_tcp_is_refused_as_over_dtls() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let udp = blackhole();
    let wrong = "ab".repeat(32);
    let tcp = dp.https.to_string();
    let args = [
        "--transport",
        "tcp",
        "--tcp-server",
        &tcp,
        "--fingerprint",
        &wrong,
        "--debug",
    ];
    let refused = Agent::start_bare(udp.local_addr().unwrap(), DOMAIN, local, &args);
    let line = refused
        .output
        .wait_for("`reconnecting` line", Duration::from_secs(5), |l| {
            l.starts_with("reconnecting")
        });
    assert!(line.contains("does not match the pinned"), "{line}");
    assert!(!refused.output.contains("connected to"));
    assert_eq!(
        dp.metric("hopgate_transport_sessions{transport=\"tcp\"}")
            .await,
        0
    );
}

/// A TLS connection on the tunnel's ALPN, verified like a visitor's.
async fn tunnel_tls(dp: &DataPlane) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let config = dp.tls_offering(hopgate_transport::TUNNEL_ALPN);
    let tcp = tokio::net::TcpStream::connect(dp.https).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from(DOMAIN).unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(hopgate_transport::TUNNEL_ALPN)
    );
    tls
}

/// Whether the pod closes `conn` within `within`.
async fn closed_within(conn: &mut (impl AsyncReadExt + Unpin), within: Duration) -> bool {
    let mut buf = [0u8; 512];
    let read_to_end = async {
        while let Ok(n) = conn.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(within, read_to_end).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tunnel_connections_harm_no_other_session() {
    let dp = DataPlane::start(
        &[DOMAIN, OTHER],
        &[("HOP_SERVER_DTLS_HANDSHAKE_TIMEOUT", "1s")],
    );
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let udp = blackhole();
    let healthy = start_agent(&dp, &udp, dp.https, DOMAIN, local, &["--transport", "tcp"]);
    connected_line(&healthy, Duration::from_secs(5));
    // A slow reader: an agent whose connection stops reading mid-download.
    let relay = PausableRelay::start(dp.https).await;
    let stalled = start_agent(&dp, &udp, relay.addr, OTHER, local, &["--transport", "tcp"]);
    connected_line(&stalled, Duration::from_secs(5));
    let visitor = dp.visitor(&[DOMAIN, OTHER]);
    let big = visitor
        .get(url(&dp, OTHER, &format!("/bytes/{}", 500 * MIB)))
        .send()
        .await
        .unwrap();
    relay.pause();
    // Garbage, an oversized length prefix, a peer that says nothing.
    let mut garbage = tunnel_tls(&dp).await;
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: tcp.hopgate.test\r\n\r\n")
        .await
        .unwrap();
    let mut oversized = tunnel_tls(&dp).await;
    oversized
        .write_all(&[0xff, 0xff, 0, 0, 0, 0])
        .await
        .unwrap();
    let mut silent = tunnel_tls(&dp).await;
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(dp.try_status(&visitor, DOMAIN, "/echo").await, 200);
    }
    let response = visitor
        .get(url(&dp, DOMAIN, &format!("/bytes/{}", 20 * MIB)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.bytes().await.unwrap().len(), 20 * MIB);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        closed_within(&mut garbage, Duration::from_secs(2)).await,
        "garbage left open"
    );
    assert!(
        closed_within(&mut oversized, Duration::from_secs(2)).await,
        "oversized left open"
    );
    assert!(
        closed_within(&mut silent, Duration::from_secs(3)).await,
        "silent left open"
    );
    assert_eq!(
        dp.metric("hopgate_rejected_total{reason=\"tunnel_tcp_bad_frame\"}")
            .await,
        2
    );
    assert_eq!(
        dp.metric("hopgate_rejected_total{reason=\"tunnel_tcp_no_session\"}")
            .await,
        1
    );
    assert!(
        dp.logs().contains("not the tunnel's framing"),
        "{}",
        dp.logs()
    );
    drop(big);
}
