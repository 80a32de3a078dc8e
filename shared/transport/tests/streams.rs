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
