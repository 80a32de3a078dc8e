//! The TCP fallback: the same sessions in a TLS connection, and what hostile or slow TCP
//! peers can't do to the gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{tcp::*, *};
use hopgate_transport::{
    Carrier, ConnectError, LinkError, ServerConfig, ServerVerification, StreamServeError,
    TransportConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn connect_tcp(
    addr: std::net::SocketAddr,
    config: &hopgate_transport::ClientConfig,
) -> hopgate_transport::Session {
    tokio::time::timeout(
        Duration::from_secs(10),
        hopgate_transport::connect_tcp(addr, config),
    )
    .await
    .expect("connect over TCP timed out")
    .expect("connect over TCP failed")
}

/// Polls `check` until it holds or `within` passes.
async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// Reads until the peer closes; false if it is still open after `within`.
async fn closed_within(conn: &mut (impl AsyncReadExt + Unpin), within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_over_tcp_carries_streams_both_ways_intact() {
    let identity = identity();
    let listener = bind_listener(&identity, TransportConfig::default());
    let (front, _outcomes) = tcp_front(&listener, &identity).await;
    serve_hashing(listener.clone());
    let session = connect_tcp(front, &client_config(&identity, TransportConfig::default())).await;
    assert_eq!(session.carrier(), Carrier::Tcp);
    let big = 32 * 1024 * 1024;
    let (a, b, c) = tokio::join!(
        exchange(&session, big, big, 1),
        exchange(&session, 1000, big, 2),
        exchange(&session, big, 10, 3),
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    let stats = listener.stats();
    assert_eq!((stats.tcp_sessions, stats.tcp_connections), (1, 1));
    assert_eq!(stats.sessions, 0, "nothing over DTLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_is_verified_over_tcp_as_over_dtls() {
    let identity = identity();
    let listener = bind_listener(&identity, TransportConfig::default());
    let (front, _outcomes) = tcp_front(&listener, &identity).await;
    serve_hashing(listener.clone());
    let other = common::identity();
    let mut wrong_pin = client_config(&identity, TransportConfig::default());
    wrong_pin.verification = ServerVerification::Pinned(other.fingerprint());
    let err = hopgate_transport::connect_tcp(front, &wrong_pin)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Tls { .. }), "{err}");
    assert!(
        err.to_string().contains("does not match the pinned"),
        "{err}"
    );

    let ca = ServerVerification::ca_pem(other.chain_pem().as_bytes()).unwrap();
    let mut wrong_ca = client_config(&identity, TransportConfig::default());
    wrong_ca.verification = ca;
    let err = hopgate_transport::connect_tcp(front, &wrong_ca)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
    assert_eq!(listener.stats().tcp_sessions, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_or_an_oversized_frame_closes_the_connection_with_the_reason() {
    let identity = identity();
    let listener = bind_listener(&identity, TransportConfig::default());
    let (front, mut outcomes) = tcp_front(&listener, &identity).await;
    for garbage in [
        b"GET / HTTP/1.1\r\nHost: gw.hopgate.test\r\n\r\n".to_vec(),
        vec![0xff, 0xff, 1, 2, 3],
    ] {
        let mut conn = raw_tunnel_client(front).await;
        conn.write_all(&garbage).await.unwrap();
        assert!(closed_within(&mut conn, Duration::from_secs(2)).await);
        let outcome = outcomes.recv().await.unwrap();
        assert!(
            matches!(outcome, Err(StreamServeError::Link(LinkError::Frame(_)))),
            "{outcome:?}"
        );
    }
    assert!(matches!(
        outcomes.try_recv(),
        Err(tokio::sync::mpsc::error::TryRecvError::Empty)
    ));
    assert_eq!(listener.stats().tcp_bad_frames, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_after_the_handshake_timeout() {
    let identity = identity();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = ServerConfig::new(identity.clone());
    config.dtls_handshake_timeout = Duration::from_millis(500);
    let listener = std::sync::Arc::new(hopgate_transport::Listener::bind(socket, config).unwrap());
    let (front, mut outcomes) = tcp_front(&listener, &identity).await;
    let started = Instant::now();
    let mut conn = raw_tunnel_client(front).await;
    assert!(closed_within(&mut conn, Duration::from_secs(3)).await);
    assert!(started.elapsed() >= Duration::from_millis(450));
    let outcome = outcomes.recv().await.unwrap();
    assert!(
        matches!(
            outcome,
            Err(StreamServeError::Link(LinkError::NoSession { .. }))
        ),
        "{outcome:?}"
    );
    assert_eq!(listener.stats().tcp_connections, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_and_udp_sessions_count_against_one_cap() {
    let identity = identity();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = ServerConfig::new(identity.clone());
    config.max_sessions = 1;
    let listener = std::sync::Arc::new(hopgate_transport::Listener::bind(socket, config).unwrap());
    let (front, mut outcomes) = tcp_front(&listener, &identity).await;
    serve_hashing(listener.clone());
    let client = client_config(&identity, TransportConfig::default());
    let over_udp = connect(listener.local_addr(), &client).await;
    let refused = hopgate_transport::connect_tcp(front, &client).await;
    assert!(refused.is_err());
    let outcome = outcomes.recv().await.unwrap();
    assert!(
        matches!(outcome, Err(StreamServeError::AtCapacity { max: 1 })),
        "{outcome:?}"
    );
    over_udp.close("done");
    assert!(
        eventually(Duration::from_secs(3), || listener
            .stats()
            .dtls_associations
            == 0)
        .await
    );
    let over_tcp = connect_tcp(front, &client).await;
    exchange(&over_tcp, 1000, 1000, 1).await.unwrap();
    let mut quick = client.clone();
    quick.transport.handshake_timeout = Duration::from_millis(800);
    assert!(
        hopgate_transport::connect(listener.local_addr(), &quick)
            .await
            .is_err()
    );
    assert_eq!(listener.stats().tcp_refused, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_and_its_connection_end_together() {
    let identity = identity();
    let listener = bind_listener(&identity, TransportConfig::default());
    let (front, _outcomes) = tcp_front(&listener, &identity).await;
    let relay = hopgate_test_support::PausableRelay::start(front).await;
    let client = client_config(&identity, TransportConfig::default());
    // The gateway closes: the agent's session ends at once, with the reason.
    let agent = connect_tcp(front, &client).await;
    let gateway = listener.accept().await.unwrap();
    gateway.close("going away");
    let err = tokio::time::timeout(Duration::from_secs(2), agent.closed())
        .await
        .unwrap();
    assert!(err.to_string().contains("going away"), "{err}");
    assert!(
        eventually(Duration::from_secs(2), || listener.stats().tcp_connections
            == 0)
        .await
    );
    // The TCP connection breaks: the gateway's session ends at once, not after the idle
    // timeout.
    let agent = connect_tcp(relay.addr, &client).await;
    let gateway = listener.accept().await.unwrap();
    let started = Instant::now();
    agent.close("bye");
    drop(agent);
    tokio::time::timeout(Duration::from_secs(2), gateway.closed())
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_stalls_no_other_session() {
    let identity = identity();
    let transport = TransportConfig {
        stream_send_queue_bytes: 256 * 1024,
        ..Default::default()
    };
    let listener = bind_listener(&identity, transport.clone());
    let (front, _outcomes) = tcp_front(&listener, &identity).await;
    serve_hashing(listener.clone());
    let relay = hopgate_test_support::PausableRelay::start(front).await;
    let client = client_config(&identity, transport);
    let stalled = connect_tcp(relay.addr, &client).await;
    // A transfer first, so the stalled session's congestion window has grown as a busy
    // session's would: once paused, what it sends fills the socket buffers and its queue
    // (from the initial window alone it fills them only by probe retransmissions, slowly).
    exchange(&stalled, 10, 32 << 20, 9).await.unwrap();
    relay.pause();
    // The stalled session asks for far more than socket buffers and its queue hold.
    let stalled_download = tokio::spawn(async move {
        let _ = exchange(&stalled, 10, 256 * 1024 * 1024, 1).await;
    });
    let healthy = connect_tcp(front, &client).await;
    let over_udp = connect(listener.local_addr(), &client).await;
    let started = Instant::now();
    exchange(&healthy, 16 << 20, 16 << 20, 2).await.unwrap();
    exchange(&over_udp, 16 << 20, 16 << 20, 3).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        eventually(Duration::from_secs(5), || listener
            .stats()
            .tcp_queue_full_dropped
            > 0)
        .await,
        "the stalled peer's queue never filled"
    );
    stalled_download.abort();
}
