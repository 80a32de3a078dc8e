//! A burst of fake ClientHellos from one address must not keep a real agent out of its
//! pod: the hellos are answered statelessly, and the agent's handshake gets through.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use hopgate_e2e::*;
use hopgate_test_support::garbage::udp::client_hello;

const DOMAIN: &str = "app.gw.hopgate.test";
/// Where the fake ClientHellos come from; the agents dial from 127.0.0.1.
const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const FAKE_HELLOS: u32 = 5_000;

/// A well-formed DTLS 1.2 ClientHello record without a cookie, with its own random.
fn fake_client_hello(n: u32) -> Vec<u8> {
    let mut random = [0x5a; 32];
    random[28..].copy_from_slice(&n.to_be_bytes());
    client_hello(random, &[])
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_fake_client_hellos_does_not_keep_a_real_agent_out() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    dp.wait_ready(Duration::from_secs(10)).await;
    let service = start_local_service("127.0.0.1:0".parse().unwrap());
    let visitor = dp.visitor_giving_up_after(&[DOMAIN], Duration::from_secs(5));

    let (halfway_tx, halfway) = tokio::sync::oneshot::channel();
    let attack = burst(dp.dtls, halfway_tx);
    halfway.await.unwrap();
    let started = Instant::now();
    let _agent = Agent::start(&dp, DOMAIN, service);
    poll_until(
        "the agent gets in and serves",
        Duration::from_secs(15),
        || async { dp.try_status(&visitor, DOMAIN, "/echo").await == 200 },
    )
    .await;
    let served = started.elapsed();
    attack.join().unwrap();
    eprintln!("agent connected and served within {served:?} of starting");
    assert!(
        served < Duration::from_secs(1),
        "served only after {served:?}"
    );
    // The hellos were answered statelessly: the pod holds the agent's association only.
    assert_eq!(dp.metric("hopgate_dtls_associations").await, 1);
}
