//! Commands to a running relay over real UDP sockets on 127.0.0.1: a rebinding gives the
//! flow a new source port at the server and keeps both directions working; a block drops
//! everything both ways, held-back datagrams included, until it is lifted; a narrower MTU
//! drops what is larger, both ways, until it is lifted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hopgate_lossy_relay::{Impairment, Relay, RelayConfig, start};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(2);
const QUIET: Duration = Duration::from_millis(150);

async fn bind() -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap()
}

async fn recv_within(socket: &UdpSocket, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0; 65_536];
    let (len, from) = timeout(wait, socket.recv_from(&mut buf))
        .await
        .ok()?
        .unwrap();
    Some((buf[..len].to_vec(), from))
}

/// Sends `payload` from the client through the relay; returns the source address the
/// server saw it from.
async fn through(
    client: &UdpSocket,
    relay: &Relay,
    server: &UdpSocket,
    payload: &[u8],
) -> SocketAddr {
    client.send_to(payload, relay.local_addr()).await.unwrap();
    let (got, from) = recv_within(server, WAIT).await.expect("the server got it");
    assert_eq!(got, payload);
    from
}

/// Answers `to` from the server; returns whether the client got the answer.
async fn answered(client: &UdpSocket, server: &UdpSocket, to: SocketAddr, payload: &[u8]) -> bool {
    server.send_to(payload, to).await.unwrap();
    recv_within(client, QUIET)
        .await
        .is_some_and(|(got, _)| got == payload)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebinding_gives_the_flow_a_new_source_port_both_ways() {
    let server = bind().await;
    let relay = start(RelayConfig::new(server.local_addr().unwrap()))
        .await
        .unwrap();
    let client = bind().await;
    let before = through(&client, &relay, &server, b"one").await;
    assert!(answered(&client, &server, before, b"answer one").await);

    assert_eq!(relay.rebind().await.unwrap(), 1);
    let after = through(&client, &relay, &server, b"two").await;
    assert_ne!(after.port(), before.port(), "a new source port");
    assert_eq!(after.ip(), before.ip(), "the same IP");
    assert!(answered(&client, &server, after, b"answer two").await);
    // The old port is closed: what the server still sends there never reaches the client.
    assert!(!answered(&client, &server, before, b"to the old port").await);
    let stats = relay.stats();
    assert_eq!((stats.rebinds, stats.mappings), (1, 1));

    // Each rebinding takes another port; a relay without flows rebinds nothing.
    assert_eq!(relay.rebind().await.unwrap(), 1);
    let third = through(&client, &relay, &server, b"three").await;
    assert!(third.port() != after.port() && third.port() != before.port());
    let idle = start(RelayConfig::new(server.local_addr().unwrap()))
        .await
        .unwrap();
    assert_eq!(idle.rebind().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_drops_everything_both_ways_until_lifted() {
    let server = bind().await;
    // Every datagram is held back 50 ms: the block must catch those in the queue too.
    let link = Impairment::default().with_delay(Duration::from_millis(50));
    let relay = start(RelayConfig::symmetric(
        server.local_addr().unwrap(),
        link,
        1,
    ))
    .await
    .unwrap();
    let client = bind().await;
    let peer = through(&client, &relay, &server, b"open").await;

    client.send_to(b"queued", relay.local_addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    relay.block(true);
    for _ in 0..5 {
        client
            .send_to(b"blocked", relay.local_addr())
            .await
            .unwrap();
    }
    assert!(
        recv_within(&server, QUIET).await.is_none(),
        "nothing reaches the server"
    );
    assert!(!answered(&client, &server, peer, b"blocked answer").await);
    let stats = relay.stats();
    assert_eq!(stats.to_server.blocked, 6, "five on arrival, one held back");
    assert_eq!(stats.to_client.blocked, 1);

    relay.block(false);
    assert_eq!(through(&client, &relay, &server, b"again").await, peer);
    assert!(answered(&client, &server, peer, b"answer again").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrower_mtu_drops_larger_datagrams_both_ways_until_lifted() {
    let server = bind().await;
    let relay = start(RelayConfig::new(server.local_addr().unwrap()))
        .await
        .unwrap();
    let client = bind().await;
    let (small, large) = ([1u8; 100], [2u8; 101]);
    let peer = through(&client, &relay, &server, &large).await;

    relay.set_mtu(Some(100));
    client
        .send_to(&[3u8; 150], relay.local_addr())
        .await
        .unwrap();
    assert!(
        recv_within(&server, QUIET).await.is_none(),
        "too big towards the server"
    );
    assert!(!answered(&client, &server, peer, &large).await);
    assert_eq!(through(&client, &relay, &server, &small).await, peer);
    assert!(answered(&client, &server, peer, &small).await);
    let stats = relay.stats();
    assert_eq!((stats.to_server.too_big, stats.to_client.too_big), (1, 1));
    assert_eq!(
        (stats.to_server.largest, stats.to_server.largest_forwarded),
        (150, 101),
        "150 bytes arrived, 101 (before the limit) left"
    );

    relay.set_mtu(None);
    assert_eq!(through(&client, &relay, &server, &large).await, peer);
    assert!(answered(&client, &server, peer, &large).await);
}
