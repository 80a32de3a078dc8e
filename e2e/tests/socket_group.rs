//! A pod whose DTLS port is served by two sockets, each on a thread of its own, with real
//! agents leaving from two local addresses (`--local-ip`): each agent's session lands on
//! the socket its address picks, the metrics say so, and visitors are served through both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::{IpAddr, SocketAddr},
    sync::atomic::Ordering,
    time::Duration,
};

use hopgate_e2e::*;
use hopgate_transport::reuseport::socket_for;

const DOMAIN: &str = "app.hopgate.test";

/// A loopback address that picks socket `index` of two.
fn loopback_ip_for(index: usize) -> IpAddr {
    (2..=250u8)
        .map(|last| IpAddr::from([127, 0, 0, last]))
        .find(|ip| socket_for(*ip, 2) == index)
        .unwrap()
}

fn pooled_from(dp: &DataPlane, ip: IpAddr) -> (Agent, SocketAddr) {
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let ip = ip.to_string();
    let agent = Agent::start_with_args(dp, DOMAIN, local, &["--pool", "--local-ip", &ip]);
    agent.wait_connected(Duration::from_secs(10));
    (agent, local)
}

fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_from_two_addresses_are_served_on_two_sockets_of_one_port() {
    let dp = DataPlane::start(&[DOMAIN], &[("HOP_SERVER_DTLS_SOCKETS", "2")]);
    assert!(
        dp.thread_names().iter().any(|name| name == "dtls-socket-1"),
        "the second socket has a thread of its own: {:?}",
        dp.thread_names()
    );
    let (_first, first_local) = pooled_from(&dp, loopback_ip_for(0));
    let (_second, second_local) = pooled_from(&dp, loopback_ip_for(1));

    let metrics_url = format!("http://{}/metrics", dp.metrics);
    let metrics = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for socket in ["0", "1"] {
        let series = format!("hopgate_dtls_socket_sessions{{socket=\"{socket}\"}}");
        assert_eq!(
            sample(&metrics, &series),
            Some(1.0),
            "{series} in\n{metrics}"
        );
    }

    // Requests spread over the pool reach both agents, so both sockets carry traffic.
    let visitor = dp.visitor(&[DOMAIN]);
    let url = format!("https://{DOMAIN}:{}/echo", dp.https.port());
    for _ in 0..40 {
        let response = visitor.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    for local in [first_local, second_local] {
        assert!(
            seen_by(local).echoes.load(Ordering::SeqCst) > 0,
            "no request reached the agent in front of {local}"
        );
    }
}
