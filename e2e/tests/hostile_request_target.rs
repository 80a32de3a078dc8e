//! A visitor tries to turn the cross-pod relay into a request to a host of its choosing by
//! giving a request target that names a host: an HTTP/2 `:path` such as
//! `@127.0.0.1:PORT/steal` (pasted after the relay's address it would make that address
//! userinfo and 127.0.0.1:PORT the host, which would then get the visitor's request and the
//! relay's secret), or an HTTP/1.1 absolute-form or authority-form target. The domain's
//! agent is on pod A, the visitor on pod B: every such request is a 400 and the host the
//! target names never sees a connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use hopgate_e2e::{raw_visitor, two_pods::TwoPods};
use tokio::io::AsyncReadExt;

const DOMAIN: &str = "shop.gw.hopgate.test";

/// A TCP listener standing in for the host the attacker names; keeps what reached it.
struct StandIn {
    port: u16,
    received: Arc<Mutex<Vec<String>>>,
}

impl StandIn {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let keep = received.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, from)) = listener.accept().await {
                let keep = keep.clone();
                tokio::spawn(async move {
                    let mut first = vec![0; 4096];
                    let n = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut first))
                        .await
                        .map_or(0, |read| read.unwrap_or(0));
                    let text = String::from_utf8_lossy(&first[..n]).into_owned();
                    keep.lock().unwrap().push(format!("from {from}: {text}"));
                });
            }
        });
        Self { port, received }
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_targets_that_name_a_host_are_refused_and_reach_nobody() {
    let pods = TwoPods::start(DOMAIN).await;
    let stand_in = StandIn::start().await;
    let port = stand_in.port;
    let pod_b = pods.b.https;
    let authority = format!("{DOMAIN}:{}", pod_b.port());

    // HTTP/2: a `:path` that doesn't start with `/`.
    for path in [
        format!("@127.0.0.1:{port}/steal"),
        format!("127.0.0.1:{port}/steal"),
    ] {
        let (status, body) = raw_visitor::h2_raw_path(pod_b, DOMAIN, &path);
        assert_eq!(
            status,
            400,
            "{path}: {body}\nthe named host received: {:?}",
            stand_in.received()
        );
    }

    // HTTP/1.1: absolute-form and authority-form targets.
    for (method, target) in [
        ("GET", format!("http://127.0.0.1:{port}/steal")),
        ("GET", format!("https://{DOMAIN}@127.0.0.1:{port}/steal")),
        ("GET", format!("127.0.0.1:{port}")),
        ("CONNECT", format!("127.0.0.1:{port}")),
    ] {
        let request =
            format!("{method} {target} HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n");
        let (status, answer) = raw_visitor::h1(pod_b, Some(DOMAIN), &request).await;
        assert_eq!(status, 400, "{method} {target}: {answer}");
    }

    // Ordinary requests are still relayed, on both HTTP versions.
    let (status, body) = raw_visitor::h2(pod_b, Some(DOMAIN), &authority, "/echo", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(pods.b.status_of(DOMAIN, "/status/204").await, 204);

    // Give a connection that might be on its way a moment to arrive (nothing marks its
    // absence).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stand_in.received(),
        Vec::<String>::new(),
        "the named host was reached"
    );
    let refused = pods
        .b
        .metric("hopgate_rejected_total{reason=\"bad_request_target\"}")
        .await;
    assert_eq!(refused, 6);
}
