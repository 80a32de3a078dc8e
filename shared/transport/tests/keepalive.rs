//! An idle session's keepalive is acknowledged at once: the gateway answers it without
//! waiting out QUIC's acknowledgement delay (25 ms), so each keepalive wakes the gateway once
//! instead of twice. A forwarder between the two ends notes when every datagram passes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::*;
use hopgate_transport::TransportConfig;
use tokio::net::UdpSocket;

const KEEPALIVE: Duration = Duration::from_millis(200);
/// QUIC's default acknowledgement delay is 25 ms: an answer held for it is never faster.
const AT_ONCE: Duration = Duration::from_millis(20);

/// When each datagram passed, and whether it went towards the gateway.
type Passages = Arc<Mutex<Vec<(Instant, bool)>>>;

/// Forwards datagrams between one client and `upstream`, noting each passage.
async fn forwarder(upstream: SocketAddr) -> (SocketAddr, Passages) {
    let outer = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let inner = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    inner.connect(upstream).await.unwrap();
    let address = outer.local_addr().unwrap();
    let passages = Passages::default();
    let client = Arc::new(Mutex::new(None::<SocketAddr>));
    let (up_out, up_in, up_log, up_client) = (
        outer.clone(),
        inner.clone(),
        passages.clone(),
        client.clone(),
    );
    tokio::spawn(async move {
        let mut buf = vec![0; 65_536];
        while let Ok((n, from)) = up_out.recv_from(&mut buf).await {
            *up_client.lock().unwrap() = Some(from);
            up_log.lock().unwrap().push((Instant::now(), true));
            let _ = up_in.send(&buf[..n]).await;
        }
    });
    let down_log = passages.clone();
    tokio::spawn(async move {
        let mut buf = vec![0; 65_536];
        while let Ok(n) = inner.recv(&mut buf).await {
            down_log.lock().unwrap().push((Instant::now(), false));
            let to = *client.lock().unwrap();
            if let Some(to) = to {
                let _ = outer.send_to(&buf[..n], to).await;
            }
        }
    });
    (address, passages)
}

/// For each datagram towards the gateway, how long until the next one came back.
fn answer_times(passages: &[(Instant, bool)]) -> Vec<Duration> {
    passages
        .iter()
        .enumerate()
        .filter(|(_, (_, up))| *up)
        .filter_map(|(i, (sent, _))| {
            let answer = passages[i + 1..].iter().find(|(_, up)| !up)?;
            Some(answer.0.duration_since(*sent))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_acknowledges_an_idle_sessions_keepalive_at_once() {
    let id = identity();
    let transport = TransportConfig {
        keepalive_interval: KEEPALIVE,
        ..TransportConfig::default()
    };
    let listener = bind_listener(&id, transport.clone());
    let (address, passages) = forwarder(listener.local_addr()).await;
    let gateway = tokio::spawn(async move {
        let session = listener.accept().await.unwrap();
        (listener, session)
    });
    let session = connect(address, &client_config(&id, transport)).await;
    let _gateway = gateway.await.unwrap();

    // Settled, then idle: only keepalives and their acknowledgements pass.
    tokio::time::sleep(KEEPALIVE * 2).await;
    passages.lock().unwrap().clear();
    tokio::time::sleep(KEEPALIVE * 8).await;
    let mut answers = answer_times(&passages.lock().unwrap());
    assert!(answers.len() >= 5, "keepalives answered: {answers:?}");
    answers.sort();
    let median = answers[answers.len() / 2];
    assert!(median < AT_ONCE, "answers took {answers:?}");
    assert!(session.close_reason().is_none());
}
