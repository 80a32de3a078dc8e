//! WebSocket through the whole path with real processes: a visitor's `wss://` client →
//! data-plane (HTTPS, HTTP/1.1 upgrade) → DTLS → the real agent → a local WebSocket
//! server, and back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use futures_util::{SinkExt, StreamExt};
use hopgate_e2e::{websocket_echo::*, *};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{self, Message},
};

const DOMAIN: &str = "ws.hopgate.test";

/// A visitor's `wss://DOMAIN/path` connection through the data-plane, trusting its debug
/// certificate and speaking HTTP/1.1 (WebSocket's upgrade is an HTTP/1.1 mechanism).
async fn visit(
    dp: &DataPlane,
    path: &str,
) -> Result<WebSocketStream<TlsStream<TcpStream>>, tungstenite::Error> {
    visit_host(dp, DOMAIN, path).await
}

fn gateway_with_agent(target: SocketAddr) -> (DataPlane, Agent) {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let agent = Agent::start(&dp, DOMAIN, target);
    agent.wait_connected(Duration::from_secs(10));
    (dp, agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_messages_go_both_ways_and_close_cleanly() {
    let (local, seen) = start_echo_server().await;
    let (dp, _agent) = gateway_with_agent(local);
    let mut ws = visit(&dp, "/chat?room=1").await.unwrap();

    expect_echo(&mut ws, Message::text("hello through the tunnel")).await;
    // A message far larger than a DTLS record or a body frame.
    let big: Vec<u8> = (0..3 * 1024 * 1024u64).map(pattern).collect();
    expect_echo(&mut ws, Message::binary(big)).await;
    for i in 0..200 {
        expect_echo(&mut ws, Message::text(format!("message {i}"))).await;
    }
    // Close handshake: our close frame is answered by the local server's.
    ws.close(None).await.unwrap();
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(10), ws.collect::<Vec<_>>())
        .await
        .expect("the close handshake didn't finish");
    assert!(
        rest.iter()
            .all(|m| matches!(m, Ok(Message::Close(_))) || m.is_err()),
        "{rest:?}"
    );

    let headers = seen.lock().unwrap().join("\n").to_ascii_lowercase();
    assert!(headers.contains("upgrade: websocket"), "{headers}");
    assert!(headers.contains("connection: upgrade"), "{headers}");
    assert!(headers.contains("x-forwarded-proto: https"), "{headers}");
    assert!(headers.contains(&format!("host: {DOMAIN}")), "{headers}");

    // The request actor is gone once both sides closed.
    poll_until(
        "no request left in flight",
        Duration::from_secs(5),
        || async { dp.metric("hopgate_requests_in_flight").await == 0 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_websockets_share_one_session() {
    let (local, _) = start_echo_server().await;
    let (dp, _agent) = gateway_with_agent(local);
    let mut clients = Vec::new();
    for i in 0..32 {
        let dp = &dp;
        clients.push(async move {
            let mut ws = visit(dp, "/").await.unwrap();
            for j in 0..20 {
                expect_echo(&mut ws, Message::text(format!("{i}/{j}"))).await;
            }
            ws.close(None).await.unwrap();
        });
    }
    futures_util::future::join_all(clients).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_upgrade_reaches_the_visitor_as_an_ordinary_answer() {
    // The actix test service answers the upgrade request with a plain status.
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let (dp, _agent) = gateway_with_agent(local);
    match visit(&dp, "/status/426").await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 426),
        other => panic!("expected a 426 answer, got {:?}", other.map(|_| ())),
    }
    // Nothing else was disturbed.
    assert_eq!(dp.get_text(DOMAIN, "/status/200").await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_stays_open_ten_minutes_idle_kept_alive_by_pings() {
    let idle = std::env::var("HOPGATE_TEST_WS_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(600), Duration::from_secs);
    let (local, _) = start_echo_server().await;
    let (dp, _agent) = gateway_with_agent(local);
    let mut ws = visit(&dp, "/idle").await.unwrap();
    expect_echo(&mut ws, Message::text("before")).await;

    // Idle except for a ping every 30 s, as browsers' and servers' keepalives do.
    let started = tokio::time::Instant::now();
    let mut round = 0u32;
    while started.elapsed() < idle {
        // Idle is the point: nothing is sent but the pings.
        tokio::time::sleep(Duration::from_secs(30).min(idle)).await;
        round += 1;
        let payload = round.to_be_bytes().to_vec();
        ws.send(Message::Ping(payload.clone().into()))
            .await
            .unwrap();
        let pong = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no pong within 10 s")
            .expect("the WebSocket closed")
            .unwrap();
        assert_eq!(pong, Message::Pong(payload.into()), "round {round}");
    }
    expect_echo(&mut ws, Message::text("still here")).await;
    ws.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_is_relayed_to_the_pod_holding_the_agents_session() {
    let cp = ControlPlane::start();
    let domain = "ws.gw.hopgate.test";
    let key = cp.register(domain).await;
    let a = DataPlane::relaying(&cp, "pod-a", Arc::new(TempDir::new("dp")), &[]);
    let b = DataPlane::relaying(&cp, "pod-b", Arc::new(TempDir::new("dp")), &[]);
    a.wait_ready(Duration::from_secs(10)).await;
    b.wait_ready(Duration::from_secs(10)).await;
    let (echo, seen) = start_echo_server().await;
    let agent = Agent::start_with_key(&a, domain, echo, &key);
    agent.wait_connected(Duration::from_secs(10));
    // The visitor reaches pod B; the agent is on pod A (B answers 502 until it knows).
    // Pod B relays once the agent's session is in its table.
    let mut ws = hopgate_test_support::poll_for(
        "pod B relays the WebSocket",
        Duration::from_secs(5),
        || async { visit_host(&b, domain, "/chat").await.ok() },
    )
    .await;
    expect_echo(&mut ws, Message::text("hello across pods")).await;
    expect_echo(&mut ws, Message::binary(vec![7u8; 3 << 20])).await;
    for i in 0..50 {
        expect_echo(&mut ws, Message::text(format!("message {i}"))).await;
    }
    ws.close(None).await.unwrap();
    let headers = seen.lock().unwrap().clone();
    assert!(
        headers.contains(&"x-forwarded-for: 127.0.0.1".to_owned()),
        "one hop in X-Forwarded-For: {headers:?}"
    );
    assert!(
        !headers.iter().any(|h| h.starts_with("x-hopgate-")),
        "{headers:?}"
    );
}
