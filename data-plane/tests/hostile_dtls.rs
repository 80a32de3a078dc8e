//! The DTLS listener under attack, with real processes: a burst of fake ClientHellos from
//! one address must not keep a real agent out, a ClientHello spoofed with an established
//! agent's address must not end its session, and a session that never says hello is closed
//! after the hello timeout.

mod common;

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use common::{local::*, *};
use hopgate_protocol::{Hello, Limits};
use hopgate_transport::{ClientConfig, ServerVerification, Session};
use hopgate_tunnel::{FrameReader, FrameWriter, agent_hello};

const DOMAIN: &str = "app.gw.hopgate.test";
/// Where the fake ClientHellos come from; the agents dial from 127.0.0.1.
const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const FAKE_HELLOS: u32 = 5_000;

/// A well-formed DTLS 1.2 ClientHello record without a cookie, with its own random.
fn fake_client_hello(n: u32) -> Vec<u8> {
    let mut body = vec![0xfe, 0xfd];
    body.extend_from_slice(&[0x5a; 28]);
    body.extend_from_slice(&n.to_be_bytes());
    body.extend_from_slice(&[0, 0]); // no session id, no cookie
    body.extend_from_slice(&[0, 2, 0xc0, 0x2b, 1, 0]); // one suite, null compression
    let len = (body.len() as u32).to_be_bytes();
    let mut record = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
    record.extend_from_slice(&((12 + body.len()) as u16).to_be_bytes());
    record.push(1);
    record.extend_from_slice(&len[1..]);
    record.extend_from_slice(&[0, 0, 0, 0, 0]);
    record.extend_from_slice(&len[1..]);
    record.extend_from_slice(&body);
    record
}

/// Sends [`FAKE_HELLOS`] ClientHellos to `target`, each from a new port of [`ATTACKER`];
/// `halfway` fires when most of them are out.
fn burst(
    target: SocketAddr,
    halfway: tokio::sync::oneshot::Sender<()>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut halfway = Some(halfway);
        for n in 0..FAKE_HELLOS {
            let socket = std::net::UdpSocket::bind((ATTACKER, 0)).unwrap();
            let _ = socket.send_to(&fake_client_hello(n), target);
            if n == FAKE_HELLOS * 9 / 10
                && let Some(halfway) = halfway.take()
            {
                let _ = halfway.send(());
            }
        }
    })
}

fn visitor(dp: &DataPlane) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&dp.cert_pem).unwrap())
        .resolve(DOMAIN, dp.https)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn status(visitor: &reqwest::Client, dp: &DataPlane) -> u16 {
    let url = format!("https://{DOMAIN}:{}/echo", dp.https.port());
    match visitor.get(url).send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

/// `hopgate_rejected_total{reason}`.
async fn rejected(dp: &DataPlane, reason: &str) -> u64 {
    dp.metric(&format!("hopgate_rejected_total{{reason=\"{reason}\"}}"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_fake_client_hellos_does_not_keep_a_real_agent_out() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    dp.wait_ready(Duration::from_secs(10)).await;
    let service = start_local_service("127.0.0.1:0".parse().unwrap());
    let visitor = visitor(&dp);

    let (halfway_tx, halfway) = tokio::sync::oneshot::channel();
    let attack = burst(dp.dtls, halfway_tx);
    halfway.await.unwrap();
    let started = Instant::now();
    let _agent = Agent::start(&dp, DOMAIN, service);
    let served = loop {
        if status(&visitor, &dp).await == 200 {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the agent was kept out; pod said:\n{}",
            dp.logs()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    attack.join().unwrap();
    eprintln!("agent connected and served within {served:?} of starting");
    assert!(
        served < Duration::from_secs(1),
        "served only after {served:?}"
    );
    // The hellos were answered statelessly: the pod holds the agent's association only.
    assert_eq!(dp.metric("hopgate_dtls_associations").await, 1);
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
    let visitor = visitor(&dp);
    assert_eq!(status(&visitor, &dp).await, 200);

    for n in 0..3 {
        send_spoofed(agent_addr, dp.dtls, &fake_client_hello(n));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert!(
        session.close_reason().is_none(),
        "the session ended: {:?}",
        session.close_reason()
    );
    assert_eq!(status(&visitor, &dp).await, 200);
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
