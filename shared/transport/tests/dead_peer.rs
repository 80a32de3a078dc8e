//! A peer that dies without a word is noticed within the idle timeout, and a peer restarted
//! on the same address and port gets a clean session.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use hopgate_transport::{SessionError, TransportConfig};
use tokio::io::AsyncReadExt;

fn spawn_probe(server: std::net::SocketAddr, fingerprint: &str, bind: &str, mode: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hopgate-transport-probe"))
        .args([server.to_string().as_str(), fingerprint, bind, mode])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "connected", "probe didn't connect");
    child
}

/// A free port *below* the kernel's ephemeral range, so that between the killed probe and
/// its restart no other test's port-0 socket can be handed the same port.
fn free_udp_port() -> String {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let taken = NEXT.fetch_add(100, std::sync::atomic::Ordering::Relaxed);
    let start = 10_000 + ((std::process::id() % 150) as u16 * 100 + taken) % 15_000;
    (start..30_000)
        .map(|port| format!("127.0.0.1:{port}"))
        .find(|addr| std::net::UdpSocket::bind(addr.as_str()).is_ok())
        .expect("no free UDP port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_peer_fails_streams_within_idle_timeout_and_restart_is_clean() {
    let id = identity();
    let transport = TransportConfig {
        keepalive_interval: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(2),
        ..TransportConfig::default()
    };
    let listener = bind_listener(&id, transport);
    let fingerprint = id.fingerprint().to_string();
    let bind = free_udp_port();

    let mut probe = spawn_probe(listener.local_addr(), &fingerprint, &bind, "hold");
    let session = tokio::time::timeout(Duration::from_secs(5), listener.accept())
        .await
        .unwrap()
        .unwrap();
    let (_send, mut recv) = session.accept_stream().await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0;
    while received < 1024 * 1024 {
        received += recv.read(&mut buf).await.unwrap();
    }

    probe.kill().unwrap();
    probe.wait().unwrap();
    let killed_at = Instant::now();
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(10), recv.read(&mut buf)).await {
            Err(_) => panic!("stream still hanging 10 s after the peer died"),
            Ok(Ok(0)) => panic!("a dead peer's stream must fail, not end cleanly"),
            Ok(Ok(_)) => continue,
            Ok(Err(err)) => break err,
        }
    };
    let noticed = killed_at.elapsed();
    assert!(
        noticed <= Duration::from_millis(2600),
        "noticed after {noticed:?}"
    );
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert_eq!(session.closed().await, SessionError::TimedOut);

    // Same address and port, new process: a fresh session that works.
    serve_hashing(listener.clone());
    let mut restarted = Command::new(env!("CARGO_BIN_EXE_hopgate-transport-probe"))
        .args([
            listener.local_addr().to_string().as_str(),
            &fingerprint,
            &bind,
            "roundtrip",
        ])
        .output()
        .unwrap();
    assert!(
        restarted.status.success(),
        "{}",
        String::from_utf8_lossy(&restarted.stderr)
    );
    restarted.stdout.retain(|b| !b.is_ascii_whitespace());
    assert_eq!(restarted.stdout, b"connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_same_port_replaces_a_live_session_at_once() {
    let id = identity();
    let listener = bind_listener(&id, TransportConfig::default());
    serve_hashing(listener.clone());
    let fingerprint = id.fingerprint().to_string();
    let bind = free_udp_port();
    let mut probe = spawn_probe(listener.local_addr(), &fingerprint, &bind, "hold");
    probe.kill().unwrap();
    probe.wait().unwrap();
    // The old session is still live on the server (idle timeout 10 s), yet the new process
    // on the same port is served at once.
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_hopgate-transport-probe"))
        .args([
            listener.local_addr().to_string().as_str(),
            &fingerprint,
            &bind,
            "roundtrip",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}
