//! The DTLS listener under attack: a ClientHello spoofed with an established agent's
//! address must not end its session, and a session that never says hello is closed after
//! the hello timeout. (A burst of fake ClientHellos against the real agent is in
//! `e2e/tests/hostile_dtls.rs`.)
//!
//! The pod is a process: what the transport logs through `tracing` (a session forgotten
//! because its "peer restarted") reaches only the binary's log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use common::*;
use hopgate_protocol::{Hello, Limits};
use hopgate_test_support::garbage::udp::client_hello;
use hopgate_transport::{ClientConfig, ServerVerification, Session};
use hopgate_tunnel::{FrameReader, FrameWriter, agent_hello};

const DOMAIN: &str = "app.gw.hopgate.test";

/// A well-formed DTLS 1.2 ClientHello record without a cookie, with its own random.
fn fake_client_hello(n: u32) -> Vec<u8> {
    let mut random = [0x5a; 32];
    random[28..].copy_from_slice(&n.to_be_bytes());
    client_hello(random, &[])
}

/// Waits until the pod has handled the datagrams sent to its DTLS port so far: it reads
/// them in order from one socket, so once it answers a fresh ClientHello (with a
/// HelloVerifyRequest) those queued before it are behind it.
fn dtls_barrier(dtls: SocketAddr) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket
        .send_to(&client_hello([0x11; 32], &[]), dtls)
        .unwrap();
    let mut answer = [0u8; 2048];
    socket
        .recv_from(&mut answer)
        .expect("the pod answers a ClientHello");
}

/// `hopgate_rejected_total{reason}`.
async fn rejected(dp: &DataPlane, reason: &str) -> u64 {
    dp.metric(&format!("hopgate_rejected_total{{reason=\"{reason}\"}}"))
        .await
}

type Control = (
    FrameWriter<hopgate_transport::SendStream>,
    FrameReader<hopgate_transport::RecvStream>,
);

/// An agent built from the transport, dialing from a known local address; its session and
/// control stream (which must live as long as the session).
async fn agent_from(dp: &DataPlane, socket: std::net::UdpSocket) -> (Session, Control) {
    let config = ClientConfig::new(
        "gw.hopgate.test",
        ServerVerification::Pinned(dp.fingerprint.expect("a debug-mode data-plane")),
    );
    let session = hopgate_transport::connect_from(socket, dp.dtls, &config)
        .await
        .unwrap();
    let (send, recv) = session.open_stream().await.unwrap();
    let mut writer = FrameWriter::new(send, Limits::default());
    let mut reader = FrameReader::new(recv, Limits::default());
    let hello = Hello::new(DOMAIN, KEY, "hopgate-agent/test");
    let ack = agent_hello(&mut reader, &mut writer, hello).await.unwrap();
    assert!(ack.ok, "{ack:?}");
    (session, (writer, reader))
}

/// An IPv4/UDP datagram with any source address, sent through a raw socket (root only).
fn send_spoofed(from: SocketAddr, to: SocketAddr, payload: &[u8]) {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let (SocketAddr::V4(from), SocketAddr::V4(to)) = (from, to) else {
        panic!("IPv4 only");
    };
    let udp_len = 8 + payload.len();
    let mut packet = vec![0x45, 0];
    packet.extend_from_slice(&((20 + udp_len) as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]); // id, DF, ttl, UDP, checksum
    packet.extend_from_slice(&from.ip().octets());
    packet.extend_from_slice(&to.ip().octets());
    packet.extend_from_slice(&from.port().to_be_bytes());
    packet.extend_from_slice(&to.port().to_be_bytes());
    packet.extend_from_slice(&(udp_len as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0]); // no UDP checksum (allowed on IPv4)
    packet.extend_from_slice(payload);
    let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255)))
        .expect("a raw socket (this test runs as root, as CI does)");
    raw.send_to(&packet, &SockAddr::from(SocketAddr::V4(to)))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hello_spoofed_with_an_agents_address_does_not_end_its_session() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    dp.wait_ready(Duration::from_secs(10)).await;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let agent_addr = socket.local_addr().unwrap();
    let (session, _control) = agent_from(&dp, socket).await;
    serve(session.clone(), |_, _| (200, vec![], b"hi".to_vec()));
    let visitor = dp.visitor_giving_up_after(&[DOMAIN], Duration::from_secs(5));
    assert_eq!(dp.try_status(&visitor, DOMAIN, "/echo").await, 200);

    for n in 0..3 {
        send_spoofed(agent_addr, dp.dtls, &fake_client_hello(n));
    }
    let dtls = dp.dtls;
    tokio::task::spawn_blocking(move || dtls_barrier(dtls))
        .await
        .unwrap();

    assert!(
        session.close_reason().is_none(),
        "the session ended: {:?}",
        session.close_reason()
    );
    assert_eq!(dp.try_status(&visitor, DOMAIN, "/echo").await, 200);
    assert!(!dp.logs().contains("peer restarted"), "{}", dp.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_never_says_hello_is_closed_after_the_hello_timeout() {
    let dp = DataPlane::start(&[DOMAIN], &[("HOP_SERVER_HELLO_TIMEOUT", "1s")]);
    dp.wait_ready(Duration::from_secs(10)).await;
    let config = ClientConfig::new(
        "gw.hopgate.test",
        ServerVerification::Pinned(dp.fingerprint.unwrap()),
    );
    let silent = hopgate_transport::connect(dp.dtls, &config).await.unwrap();
    let started = Instant::now();
    let reason = tokio::time::timeout(Duration::from_secs(4), silent.closed())
        .await
        .expect("closed within the hello timeout");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(reason.to_string().contains("no hello"), "{reason}");
    assert_eq!(rejected(&dp, "hello_timeout").await, 1);
}
