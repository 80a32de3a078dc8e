//! Explicit limits hold: back-pressure from a slow reader.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use hopgate_transport::TransportConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_stalls_the_writer_within_the_window() {
    let id = identity();
    let window = 256 * 1024;
    let transport = TransportConfig {
        stream_receive_window: window,
        session_receive_window: 4 * window,
        ..TransportConfig::default()
    };
    let listener = bind_listener(&id, transport.clone());
    let session = connect(listener.local_addr(), &client_config(&id, transport)).await;
    let server_side = listener.accept().await.unwrap();
    server_side.lift_pre_hello_limits();

    let (mut send, _recv) = session.open_stream().await.unwrap();
    let (progress_tx, progress) = tokio::sync::watch::channel(0u64);
    let writer = tokio::spawn(async move {
        let block = vec![7u8; 16 * 1024];
        let mut written = 0u64;
        loop {
            send.write_all(&block).await?;
            written += block.len() as u64;
            progress_tx.send_replace(written);
        }
        #[allow(unreachable_code)]
        std::io::Result::Ok(())
    });
    let (_server_send, mut server_recv) = server_side.accept_stream().await.unwrap();
    // Nobody reads: the writer must stop near the stream window, not buffer without end.
    // A stall is the absence of progress over a while: the pauses are the point.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stalled_at = *progress.borrow();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        *progress.borrow(),
        stalled_at,
        "the writer kept going with no reader"
    );
    assert!(
        stalled_at <= 4 * u64::from(window),
        "{stalled_at} bytes buffered for a {window}-byte window"
    );

    // Reading releases it.
    let mut buf = vec![0u8; 64 * 1024];
    let mut read = 0u64;
    while read < stalled_at + 1024 * 1024 {
        read += server_recv.read(&mut buf).await.unwrap() as u64;
    }
    assert!(*progress.borrow() > stalled_at);
    writer.abort();
}
