//! A session says how long its peer has been silent: on a working path, idle, never much
//! longer than the keepalive interval; on a path that drops everything, as long as the
//! drop lasts; heard again as soon as the path works.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use hopgate_lossy_relay::RelayConfig;
use hopgate_transport::TransportConfig;

const KEEPALIVE: Duration = Duration::from_millis(300);
const POLL: Duration = Duration::from_millis(25);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_path_is_silence_and_a_working_idle_one_is_not() {
    let id = identity();
    let transport = TransportConfig {
        keepalive_interval: KEEPALIVE,
        idle_timeout: Duration::from_secs(10),
        ..TransportConfig::default()
    };
    let listener = bind_listener(&id, transport.clone());
    let relay = hopgate_lossy_relay::start(RelayConfig::new(listener.local_addr()))
        .await
        .unwrap();
    let gateway = tokio::spawn(async move {
        let session = listener.accept().await.unwrap();
        (listener, session)
    });
    let session = connect(relay.local_addr(), &client_config(&id, transport)).await;
    let _gateway = gateway.await.unwrap();

    // Idle for 2 s on a working path: only keepalives and their acknowledgements.
    let mut longest = Duration::ZERO;
    for _ in 0..80 {
        tokio::time::sleep(POLL).await;
        longest = longest.max(session.silent_for());
    }
    assert!(
        longest < KEEPALIVE + Duration::from_millis(200),
        "{longest:?}"
    );

    relay.block(true);
    let blocked = Instant::now();
    while session.silent_for() < Duration::from_secs(1) {
        assert!(blocked.elapsed() < Duration::from_secs(3), "never silent");
        tokio::time::sleep(POLL).await;
    }
    let silent = session.silent_for();
    assert!(
        silent <= blocked.elapsed() + KEEPALIVE + POLL,
        "silent {silent:?}, blocked {:?} ago",
        blocked.elapsed()
    );

    relay.block(false);
    let unblocked = Instant::now();
    while session.silent_for() > KEEPALIVE {
        assert!(
            unblocked.elapsed() < Duration::from_secs(3),
            "not heard again"
        );
        tokio::time::sleep(POLL).await;
    }
    assert!(session.close_reason().is_none(), "the session lived on");
}
