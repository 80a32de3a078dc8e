//! The HTTPS listener's workers (`HOP_SERVER_HTTPS_WORKERS`) in a real pod: with two
//! workers and one DTLS socket the second worker has a thread of its own; with two of each
//! it runs on the second socket's thread; with one of each the pod serves visitors and
//! agents on its main thread. Visitors' connections are served whichever worker accepts
//! them, and a pod holding its most connections accepts again once one ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hopgate_e2e::*;

const DOMAIN: &str = "app.hopgate.test";

/// A pod with `env`, an agent for [`DOMAIN`] in front of a local service.
fn pod_with_agent(env: &[(&str, &str)]) -> (DataPlane, Agent) {
    let dp = DataPlane::start(&[DOMAIN], env);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start(&dp, DOMAIN, local);
    agent.wait_connected(Duration::from_secs(10));
    (dp, agent)
}

/// `count` requests, each on a connection of its own (a new client each), all answered.
async fn fresh_connections_are_served(dp: &DataPlane, count: usize) {
    let url = format!("https://{DOMAIN}:{}/echo", dp.https.port());
    for _ in 0..count {
        let response = dp.visitor(&[DOMAIN]).get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_each_accept_visitors_and_every_connection_is_served() {
    let (dp, _agent) = pod_with_agent(&[
        ("HOP_SERVER_HTTPS_WORKERS", "2"),
        ("HOP_SERVER_DTLS_SOCKETS", "1"),
    ]);
    let names = dp.thread_names();
    let workers: Vec<_> = names
        .iter()
        .filter(|name| name.starts_with("hopgate-https"))
        .collect();
    // The first worker runs on the main thread, the second on a thread of its own.
    assert_eq!(workers, ["hopgate-https-1"], "{names:?}");
    fresh_connections_are_served(&dp, 24).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_worker_runs_on_the_second_dtls_sockets_thread() {
    let (dp, _agent) = pod_with_agent(&[
        ("HOP_SERVER_HTTPS_WORKERS", "2"),
        ("HOP_SERVER_DTLS_SOCKETS", "2"),
    ]);
    let names = dp.thread_names();
    assert!(
        names.iter().any(|name| name == "dtls-socket-1")
            && !names.iter().any(|name| name.starts_with("hopgate-https")),
        "{names:?}"
    );
    fresh_connections_are_served(&dp, 24).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_and_one_socket_serve_everything_on_the_main_thread() {
    let (dp, _agent) = pod_with_agent(&[
        ("HOP_SERVER_HTTPS_WORKERS", "1"),
        ("HOP_SERVER_DTLS_SOCKETS", "1"),
    ]);
    let names = dp.thread_names();
    assert!(
        !names
            .iter()
            .any(|name| name.starts_with("hopgate-https") || name.starts_with("dtls-socket")),
        "a thread of its own for a worker or a socket: {names:?}"
    );
    fresh_connections_are_served(&dp, 8).await;
    // And a keep-alive connection's requests, one after another.
    let visitor = dp.visitor(&[DOMAIN]);
    let url = format!("https://{DOMAIN}:{}/echo", dp.https.port());
    for _ in 0..8 {
        assert_eq!(visitor.get(&url).send().await.unwrap().status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_holding_its_most_connections_accepts_again_once_one_ends() {
    let (dp, _agent) = pod_with_agent(&[
        ("HOP_SERVER_HTTPS_WORKERS", "1"),
        ("HOP_SERVER_MAX_CONNECTIONS", "2"),
        ("HOP_SERVER_TLS_HANDSHAKE_TIMEOUT", "30s"),
    ]);
    // Two silent connections take both places (their handshakes may take 30 s).
    let first = std::net::TcpStream::connect(dp.https).unwrap();
    let _second = std::net::TcpStream::connect(dp.https).unwrap();
    let url = format!("https://{DOMAIN}:{}/echo", dp.https.port());
    let waiting = dp
        .visitor_giving_up_after(&[DOMAIN], Duration::from_millis(700))
        .get(&url)
        .send()
        .await;
    assert!(
        waiting.is_err(),
        "a third connection was served: {waiting:?}"
    );
    let full = "hopgate_rejected_total{reason=\"max_connections\"}";
    assert!(dp.metric(full).await >= 1, "{full} not counted");
    drop(first);
    let response = dp.visitor(&[DOMAIN]).get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
}
