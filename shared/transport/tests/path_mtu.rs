//! Datagram sizes: a session starts at `datagram_size`; once it carries bulk data it grows
//! into the larger datagrams its path carries (path-MTU discovery) but never beyond
//! `max_datagram_size`; it keeps working on a path that silently drops anything larger than
//! it carries, from the start or from a route change in the middle; and a session that
//! never fills a datagram never probes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use hopgate_lossy_relay::{DirectionStats, Impairment, Relay, RelayConfig};
use hopgate_transport::{Session, TransportConfig};

/// Bytes each way: enough for discovery to finish and the found size to carry most of it.
const BULK: u64 = 8 * 1024 * 1024;

/// DTLS's share of every datagram (record header, explicit nonce, tag).
const DTLS_OVERHEAD: u64 = 37;

/// Moves [`BULK`] bytes each way on one stream through a relay impairing both directions
/// with `link`, checking every byte; returns what the relay saw, towards the gateway and
/// towards the agent.
async fn bulk_through(transport: TransportConfig, link: Impairment) -> [DirectionStats; 2] {
    exchanges_through(transport, link, 1, BULK).await
}

/// A gateway serving hashed exchanges, a relay in front of it impairing both directions
/// with `link`, and a session through the relay.
async fn session_through(transport: TransportConfig, link: Impairment) -> (Session, Relay) {
    let id = identity();
    let listener = bind_listener(&id, transport.clone());
    serve_hashing(listener.clone());
    let relay = hopgate_lossy_relay::start(RelayConfig::symmetric(listener.local_addr(), link, 7))
        .await
        .unwrap();
    let session = connect(relay.local_addr(), &client_config(&id, transport)).await;
    (session, relay)
}

/// Runs `count` exchanges of `bytes` each way, one stream each, through a relay impairing
/// both directions with `link`; returns what the relay saw, towards the gateway and towards
/// the agent.
async fn exchanges_through(
    transport: TransportConfig,
    link: Impairment,
    count: u8,
    bytes: u64,
) -> [DirectionStats; 2] {
    let (session, relay) = session_through(transport, link).await;
    for seed in 0..count {
        exchange(&session, bytes, bytes, seed).await.unwrap();
    }
    // Time for probes to go out and come back, were any due.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = relay.stats();
    [stats.to_server, stats.to_client]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_discovery_every_datagram_keeps_the_configured_size() {
    let transport = TransportConfig {
        datagram_size: 1250,
        max_datagram_size: 1250,
        ..TransportConfig::default()
    };
    for stats in bulk_through(transport, Impairment::NONE).await {
        assert!(stats.largest <= 1250, "a {}-byte datagram", stats.largest);
        // Bulk data fills datagrams up to the size: the size is what is used.
        assert!(stats.largest >= 1240, "largest only {}", stats.largest);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_data_grows_into_larger_datagrams_up_to_the_ceiling() {
    let transport = TransportConfig {
        datagram_size: 1250,
        max_datagram_size: 4000,
        ..TransportConfig::default()
    };
    let start_packet = 1250 - DTLS_OVERHEAD;
    for stats in bulk_through(transport, Impairment::NONE).await {
        assert!(stats.largest <= 4000, "a {}-byte datagram", stats.largest);
        // Loopback carries anything: the search ends within 1 % of the ceiling.
        assert!(stats.largest >= 3960, "largest only {}", stats.largest);
        // Carried at the starting size, the data alone would take more datagrams than
        // the whole exchange (data and acknowledgements) took.
        assert!(
            stats.received < BULK / start_packet,
            "{} datagrams for {BULK} bytes: the larger size carried little",
            stats.received
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_drops_large_datagrams_silently_keeps_its_session() {
    // A path narrower than any probe, and no ICMP: only the probes' loss tells. The
    // handshake's datagrams fit it; probes come only with bulk data.
    let (session, relay) = session_through(TransportConfig::default(), Impairment::NONE).await;
    relay.set_mtu(Some(1400));
    exchange(&session, BULK, BULK, 1).await.unwrap();
    let stats = relay.stats();
    for stats in [stats.to_server, stats.to_client] {
        assert!(stats.too_big > 0, "no probe larger than the path was sent");
        assert!(
            stats.largest_forwarded <= 1400,
            "{}",
            stats.largest_forwarded
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_narrows_under_a_session_is_followed_down() {
    let (session, relay) = session_through(TransportConfig::default(), Impairment::NONE).await;
    exchange(&session, BULK, BULK, 1).await.unwrap();
    let grown = relay.stats();
    for stats in [grown.to_server, grown.to_client] {
        assert!(
            stats.largest_forwarded > 8000,
            "{}",
            stats.largest_forwarded
        );
    }
    // The route changes to a narrower link that sends no ICMP: every large datagram
    // vanishes from now on, and only their loss tells.
    relay.set_mtu(Some(1400));
    tokio::time::timeout(Duration::from_secs(20), exchange(&session, BULK, BULK, 2))
        .await
        .expect("the session stalled on the narrower path")
        .unwrap();
    let narrowed = relay.stats();
    for (before, after) in [
        (grown.to_server, narrowed.to_server),
        (grown.to_client, narrowed.to_client),
    ] {
        assert!(after.too_big > before.too_big, "nothing was too big");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_carrying_only_small_messages_never_probes() {
    // Forty exchanges of 1,000 bytes each way: no datagram is ever filled.
    for stats in exchanges_through(TransportConfig::default(), Impairment::NONE, 40, 1000).await {
        assert!(
            stats.largest <= 1350,
            "a {}-byte datagram: a probe",
            stats.largest
        );
    }
}
