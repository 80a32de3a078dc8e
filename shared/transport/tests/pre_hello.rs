//! Before the gateway trusts a session (its hello accepted), the peer may open one stream
//! and have a small window of bytes in flight; afterwards the configured limits apply.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use hopgate_transport::{SendStream, TransportConfig};
use tokio::io::AsyncWriteExt;

/// Writes to `send` until told to stop; reports how far it got.
fn write_until_blocked(mut send: SendStream) -> tokio::sync::watch::Receiver<u64> {
    let (progress_tx, progress) = tokio::sync::watch::channel(0u64);
    tokio::spawn(async move {
        let block = vec![7u8; 4 * 1024];
        let mut written = 0u64;
        while send.write_all(&block).await.is_ok() {
            written += block.len() as u64;
            progress_tx.send_replace(written);
        }
    });
    progress
}

/// Waits until `progress` stops moving (no progress for 300 ms: a stall has no other
/// sign); returns where it stopped.
async fn stalled(progress: &tokio::sync::watch::Receiver<u64>) -> u64 {
    let mut last = *progress.borrow();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = *progress.borrow();
        if now == last {
            return now;
        }
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_session_gets_one_stream_and_a_small_window() {
    let id = identity();
    let listener = bind_listener(&id, TransportConfig::default());
    let session = connect(
        listener.local_addr(),
        &client_config(&id, TransportConfig::default()),
    )
    .await;
    let server_side = listener.accept().await.unwrap();

    let (first, _first_recv) = session.open_stream().await.unwrap();
    let progress = write_until_blocked(first);
    let (_server_send, _server_recv) = server_side.accept_stream().await.unwrap();
    // Nobody reads: before the hello the peer can't make the gateway hold more than the
    // small pre-hello window, on any number of streams.
    let held = stalled(&progress).await;
    assert!(held <= 64 * 1024, "{held} bytes buffered before the hello");
    let second = tokio::time::timeout(Duration::from_millis(500), session.open_stream()).await;
    assert!(second.is_err(), "a second stream opened before the hello");

    server_side.lift_pre_hello_limits();
    let _second = tokio::time::timeout(Duration::from_secs(5), session.open_stream())
        .await
        .expect("a second stream once the session is trusted")
        .unwrap();
    let held_after = stalled(&progress).await;
    assert!(
        held_after > 1024 * 1024,
        "the full stream window applies after the hello: {held_after} bytes"
    );
}

/// A gateway that allows its peers one stream after the hello (its control stream) still
/// gives them the full window on it, and no second stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_may_keep_trusted_peers_to_their_control_stream() {
    let id = identity();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = hopgate_transport::ServerConfig::new(id.clone());
    config.peer_streams_after_hello = Some(1);
    let listener = hopgate_transport::Listener::bind(socket, config).unwrap();
    let session = connect(
        listener.local_addr(),
        &client_config(&id, TransportConfig::default()),
    )
    .await;
    let server_side = listener.accept().await.unwrap();
    let (control, _control_recv) = session.open_stream().await.unwrap();
    let progress = write_until_blocked(control);
    let (_server_send, _server_recv) = server_side.accept_stream().await.unwrap();
    stalled(&progress).await;

    server_side.lift_pre_hello_limits();
    let held_after = stalled(&progress).await;
    assert!(
        held_after > 1024 * 1024,
        "the full stream window applies after the hello: {held_after} bytes"
    );
    let second = tokio::time::timeout(Duration::from_millis(500), session.open_stream()).await;
    assert!(second.is_err(), "a second stream opened");
    // The gateway's own streams are the peer's allowance, not this one.
    let (mut to_peer, _) = server_side.open_stream().await.unwrap();
    to_peer.write_all(b"request").await.unwrap();
    let (_, mut from_gateway) = session.accept_stream().await.unwrap();
    let mut got = [0u8; 7];
    tokio::io::AsyncReadExt::read_exact(&mut from_gateway, &mut got)
        .await
        .unwrap();
    assert_eq!(&got, b"request");
}
