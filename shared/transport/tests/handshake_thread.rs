//! A listener's DTLS handshakes run on its own handshake thread, at a lower priority than
//! the threads that carry established sessions, and the thread goes with the listener; new
//! handshakes are paced, taking turns between source addresses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::*;
use hopgate_transport::{ClientConfig, Listener, ServerConfig, TransportConfig, connect_from};

const THREAD_NAME: &str = "dtls-handshakes";

/// The nice values of this process's threads named `name`, from /proc.
fn nice_of_threads_named(name: &str) -> Vec<i64> {
    let mut nice = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue; // the thread ended meanwhile
        };
        if comm.trim_end() != name {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // After the command in parentheses: state is field 3, nice field 19.
        let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
        let field: i64 = after_comm.split(' ').nth(16).unwrap().parse().unwrap();
        nice.push(field);
    }
    nice
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_run_on_a_low_priority_thread_that_ends_with_the_listener() {
    let identity = identity();
    assert!(nice_of_threads_named(THREAD_NAME).is_empty());
    let listener = bind_listener(&identity, TransportConfig::default());
    let addr = listener.local_addr();

    let config = client_config(&identity, TransportConfig::default());
    let session = connect(addr, &config).await;
    assert_eq!(
        nice_of_threads_named(THREAD_NAME),
        vec![10],
        "one handshake thread, below the default priority"
    );
    let stats = listener.stats();
    assert_eq!(stats.dtls_handshake_steps_queued, 0);
    assert_eq!(stats.dtls_handshaking, 0);

    session.close("done");
    listener.close("test over");
    drop(listener);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !nice_of_threads_named(THREAD_NAME).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the handshake thread outlived its listener"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts handshakes with `addr` from `ip` over and over, each abandoned after 200 ms (left
/// in the listener until its timeout), until `stop`.
fn flood_from(ip: Ipv4Addr, addr: SocketAddr, config: ClientConfig, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let socket = std::net::UdpSocket::bind((ip, 0)).unwrap();
            let attempt = connect_from(socket, addr, &config);
            let _ = tokio::time::timeout(Duration::from_millis(200), attempt).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_gets_in_while_other_addresses_flood_the_paced_handshakes() {
    let identity = identity();
    let mut config = ServerConfig::new(identity.clone());
    // Four new handshakes a second, each given up after 3 s; the flood below keeps eight in
    // progress per address (the per-IP cap) and more knocking.
    config.handshakes_per_s = 4;
    config.dtls_handshake_timeout = Duration::from_secs(3);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listener = Arc::new(Listener::bind(socket, config).unwrap());
    let addr = listener.local_addr();
    tokio::spawn({
        let listener = listener.clone();
        async move { while listener.accept().await.is_some() {} }
    });

    let client = client_config(&identity, TransportConfig::default());
    let stop = Arc::new(AtomicBool::new(false));
    for ip in 2..=4 {
        for _ in 0..10 {
            let ip = Ipv4Addr::new(127, 0, 0, ip);
            flood_from(ip, addr, client.clone(), stop.clone());
        }
    }
    // The most first steps seen waiting for a token while the flood gets going.
    let mut queued = 0;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        queued = queued.max(listener.stats().dtls_handshake_steps_queued);
    }

    // The agent's first step waits at most for a turn of each flooding address.
    let started = Instant::now();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let session = connect_from(socket, addr, &client).await;
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert!(
        queued >= 3,
        "the flood's handshakes wait for tokens: {queued}"
    );
    let session = session.unwrap();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    session.close("done");
    listener.close("test over");
}

#[tokio::test]
async fn a_burst_of_zero_handshakes_is_refused_with_its_name() {
    let mut config = ServerConfig::new(identity());
    config.handshake_burst = Some(0);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let err = Listener::bind(socket, config).unwrap_err().to_string();
    assert!(err.contains("handshake_burst"), "{err}");
}
