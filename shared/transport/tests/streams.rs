//! Many concurrent streams on one session, clean and through a lossy link.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use hopgate_lossy_relay::{Impairment, RelayConfig};
use hopgate_transport::TransportConfig;

const MIB: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stream_round_trip() {
    let id = identity();
    let listener = bind_listener(&id, TransportConfig::default());
    serve_hashing(listener.clone());
    let session = connect(
        listener.local_addr(),
        &client_config(&id, TransportConfig::default()),
    )
    .await;
    exchange(&session, 100, 100, 1).await.unwrap();
    exchange(&session, MIB, 3 * MIB, 2).await.unwrap();
}

async fn many_streams(session: &hopgate_transport::Session, streams: usize, each: u64) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..streams {
        let session = session.clone();
        tasks.spawn(async move { exchange(&session, each, each, i as u8).await });
    }
    let mut done = 0;
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
        done += 1;
    }
    assert_eq!(done, streams);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_streams_of_16_mib_both_ways() {
    let id = identity();
    let listener = bind_listener(&id, TransportConfig::default());
    serve_hashing(listener.clone());
    let session = connect(
        listener.local_addr(),
        &client_config(&id, TransportConfig::default()),
    )
    .await;
    tokio::time::timeout(
        Duration::from_secs(300),
        many_streams(&session, 64, 16 * MIB),
    )
    .await
    .expect("64 x 16 MiB took over 5 minutes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_streams_through_loss_duplication_and_reordering() {
    let id = identity();
    let listener = bind_listener(&id, TransportConfig::default());
    serve_hashing(listener.clone());
    let link = Impairment {
        drop: 0.05,
        duplicate: 0.01,
        reorder: 0.02,
        ..Impairment::default()
    };
    let relay = hopgate_lossy_relay::start(RelayConfig::symmetric(listener.local_addr(), link, 42))
        .await
        .unwrap();
    let session = connect(
        relay.local_addr(),
        &client_config(&id, TransportConfig::default()),
    )
    .await;
    tokio::time::timeout(
        Duration::from_secs(600),
        many_streams(&session, 64, 16 * MIB),
    )
    .await
    .expect("64 x 16 MiB through the lossy relay took over 10 minutes");
    let stats = relay.stats();
    assert!(
        stats.to_server.dropped > 0 && stats.to_client.dropped > 0,
        "the relay dropped nothing"
    );
}

/// Chunks handed to a stream without a copy arrive whole and in order, also when the
/// peer's small window takes them in parts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_written_without_a_copy_arrive_in_order_through_a_small_window() {
    use bytes::Bytes;
    use sha2::{Digest, Sha256};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let id = identity();
    let small = TransportConfig {
        stream_receive_window: 16 * 1024,
        ..TransportConfig::default()
    };
    let listener = bind_listener(&id, small);
    serve_hashing(listener.clone());
    let session = connect(
        listener.local_addr(),
        &client_config(&id, TransportConfig::default()),
    )
    .await;
    let (mut send, mut recv) = session.open_stream().await.unwrap();
    send.write_u64(0).await.unwrap();

    let mut chunks: Vec<Bytes> = (0..40u8)
        .map(|i| Bytes::from(vec![i; 1000 + 997 * usize::from(i)]))
        .collect();
    let expected: [u8; 32] = chunks
        .iter()
        .fold(Sha256::new(), |hasher, chunk| hasher.chain_update(chunk))
        .finalize()
        .into();
    let (mut first, mut taken_in_part) = (0, 0);
    while first < chunks.len() {
        let before = chunks[first].len();
        let written = std::future::poll_fn(|cx| send.poll_write_chunks(cx, &mut chunks[first..]))
            .await
            .unwrap();
        assert!(written > 0);
        while first < chunks.len() && chunks[first].is_empty() {
            first += 1;
        }
        if first < chunks.len() && written < before && chunks[first].len() < before {
            taken_in_part += 1;
        }
    }
    send.finish().unwrap();
    assert!(taken_in_part > 0, "the window never cut a chunk");

    let mut digest = [0u8; 32];
    tokio::time::timeout(Duration::from_secs(30), recv.read_exact(&mut digest))
        .await
        .expect("the server's digest")
        .unwrap();
    assert_eq!(digest, expected, "what arrived differs from the chunks");
}
