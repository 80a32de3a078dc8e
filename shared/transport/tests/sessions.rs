//! Many sessions on one server socket, and nothing left behind when they are gone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use hopgate_transport::{Listener, ListenerStats, ServerConfig, TransportConfig};

async fn wait_for_empty(listener: &hopgate_transport::Listener, within: Duration) -> ListenerStats {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let stats = listener.stats();
        if stats.dtls_associations == 0 && stats.sessions == 0 {
            return stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "state left behind: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Dials until a session is up, as an agent does: a handshake lost in the storm (its
/// flights dropped or its state expired while the CPU was busy) is tried again from a
/// fresh port after a short pause, a few times.
async fn connect_like_an_agent(
    source: std::net::Ipv4Addr,
    addr: std::net::SocketAddr,
    config: &hopgate_transport::ClientConfig,
) -> anyhow::Result<hopgate_transport::Session> {
    let mut last_error = None;
    for attempt in 0..5u64 {
        let socket = std::net::UdpSocket::bind((source, 0))?;
        let dial = hopgate_transport::connect_from(socket, addr, config);
        match tokio::time::timeout(Duration::from_secs(20), dial).await {
            Ok(Ok(session)) => return Ok(session),
            Ok(Err(e)) => last_error = Some(anyhow::Error::from(e)),
            Err(elapsed) => last_error = Some(elapsed.into()),
        }
        tokio::time::sleep(Duration::from_millis(500 * (attempt + 1))).await;
    }
    Err(last_error
        .expect("at least one attempt")
        .context("five handshakes failed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sessions_at_once_then_no_state() {
    let id = identity();
    // A thousand handshakes at once take the CPU a while: give each as long as the clients
    // give themselves (the default is shorter, to free the state of abandoned ones sooner).
    let mut server = ServerConfig::new(id.clone());
    let server_handshake_timeout = TransportConfig::default().handshake_timeout;
    server.dtls_handshake_timeout = server_handshake_timeout;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listener = std::sync::Arc::new(Listener::bind(socket, server).unwrap());
    serve_hashing(listener.clone());
    let config = client_config(&id, TransportConfig::default());
    let addr = listener.local_addr();

    let mut tasks = tokio::task::JoinSet::new();
    let (all_up_tx, all_up) = tokio::sync::watch::channel(false);
    // All 1,000 handshakes start at the same instant: a reconnect storm after a restart.
    // Each agent dials from its own loopback address, as agents on their own hosts do (one
    // address may only have a few handshakes in progress).
    for i in 0..1000u32 {
        let config = config.clone();
        let mut all_up = all_up.clone();
        let source = std::net::Ipv4Addr::new(127, 10, (i / 250) as u8, (i % 250 + 1) as u8);
        tasks.spawn(async move {
            let session = connect_like_an_agent(source, addr, &config).await?;
            exchange(&session, 100, 100, i as u8).await?;
            // Hold the session until every other one is up too, so they are live at once.
            let _ = all_up.wait_for(|up| *up).await;
            anyhow::Ok(session)
        });
    }
    // Wait for all 1000 to be established concurrently.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while listener.stats().sessions < 1000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {:?} sessions came up",
            listener.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One association per session. An agent whose session was not confirmed in time (a
    // busy machine) starts over, and its new handshake may still be in progress beside its
    // session when the last one comes up: it completes or expires within the timeout.
    let deadline = tokio::time::Instant::now() + server_handshake_timeout;
    while listener.stats().dtls_associations != 1000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "associations beside the sessions: {:?}",
            listener.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    all_up_tx.send(true).unwrap();
    let mut sessions = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(s) => sessions.push(s),
            Err(e) => panic!("{e:#} server stats {:?}", listener.stats()),
        }
    }
    assert_eq!(sessions.len(), 1000);
    for session in &sessions {
        session.close("test done");
    }
    drop(sessions);
    // DTLS state goes at once; a closed QUIC connection lingers for three probe timeouts
    // (RFC 9000 §10.2), which under this load are seconds long, then is gone too.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while listener.stats().dtls_associations > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "DTLS state left: {:?}",
            listener.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = wait_for_empty(&listener, Duration::from_secs(30)).await;
    assert_eq!(after.dtls_handshaking, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_session_is_forgotten_at_once_on_both_layers() {
    let id = identity();
    let listener = bind_listener(&id, TransportConfig::default());
    serve_hashing(listener.clone());
    let session = connect(
        listener.local_addr(),
        &client_config(&id, TransportConfig::default()),
    )
    .await;
    exchange(&session, 10, 10, 1).await.unwrap();
    assert_eq!(listener.stats().sessions, 1);
    session.close("bye");
    // Well under the idle timeout (4 s): the close is explicit.
    wait_for_empty(&listener, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_closing_fails_the_clients_streams_with_its_reason() {
    let id = identity();
    let listener = bind_listener(&id, TransportConfig::default());
    serve_hashing(listener.clone());
    let session = connect(
        listener.local_addr(),
        &client_config(&id, TransportConfig::default()),
    )
    .await;
    exchange(&session, 10, 10, 1).await.unwrap();
    listener.close("gateway restarting");
    let reason = tokio::time::timeout(Duration::from_secs(2), session.closed())
        .await
        .unwrap();
    assert!(
        reason.to_string().contains("gateway restarting"),
        "{reason}"
    );
}
