//! Bad input at the gateway gets a clear error or is dropped, and disturbs nothing else.
//!
//! The data-plane runs in the test's process (`common::in_process`): a process boundary
//! isn't the point here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use common::*;
use hopgate_protocol::Hello;

const DOMAIN: &str = "app.hopgate.test";

fn serve_ok(agent: &FakeAgent) {
    serve(agent.session.clone(), |_, _| (200, vec![], b"ok".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_dtls_port_is_dropped_and_agents_still_connect() {
    let dp = DataPlane::in_process(&[DOMAIN], &[]);
    let noise = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..500u32 {
        let junk: Vec<u8> = (0..(i % 1400) + 1).map(|j| (i * 31 + j) as u8).collect();
        noise.send_to(&junk, dp.dtls).unwrap();
    }
    let agent = fake_agent(&dp, Hello::new(DOMAIN, KEY, "test")).await;
    assert!(agent.ack.ok);
    serve_ok(&agent);
    let text = dp.get_text(DOMAIN, "/").await;
    assert_eq!(text, "ok");
    assert_eq!(
        dp.metric("hopgate_dtls_associations").await,
        1,
        "garbage must not create state"
    );
    // Every junk datagram was counted as dropped (none parses as a ClientHello).
    let dropped = dp
        .metric("hopgate_dtls_dropped_datagrams_total{reason=\"unsolicited\"}")
        .await;
    assert!(dropped >= 500, "{dropped} of 500 junk datagrams counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_header_block_is_refused_with_431() {
    let dp = DataPlane::in_process(&[DOMAIN], &[]);
    let agent = fake_agent(&dp, Hello::new(DOMAIN, KEY, "test")).await;
    serve_ok(&agent);
    let visitor = dp.visitor(&[DOMAIN]);
    let url = format!("https://{DOMAIN}:{}/", dp.https.port());
    let huge = "x".repeat(70 * 1024);
    let result = visitor.get(&url).header("x-huge", huge).send().await;
    match result {
        Ok(response) => assert_eq!(response.status(), 431),
        // HTTP/2 may refuse the header block at the framing layer instead.
        Err(err) => assert!(err.is_request() || err.is_connect(), "{err}"),
    }
    // Nothing else was disturbed.
    assert_eq!(
        visitor
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_that_never_finishes_its_headers_is_dropped() {
    let dp = DataPlane::in_process(&[DOMAIN], &[("HOP_SERVER_HEADER_TIMEOUT", "1s")]);
    let agent = fake_agent(&dp, Hello::new(DOMAIN, KEY, "test")).await;
    serve_ok(&agent);
    let cert = openssl::x509::X509::from_pem(&dp.cert_pem).unwrap();
    let https = dp.https;
    let slow = std::thread::spawn(move || {
        let mut builder =
            openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
        builder.cert_store_mut().add_cert(cert).unwrap();
        let tcp = TcpStream::connect(https).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut tls = builder.build().connect(DOMAIN, tcp).unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: app.hopgate.test\r\nX-Slow: ")
            .unwrap();
        let started = Instant::now();
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer);
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    });
    // Meanwhile others are served.
    let text = dp.get_text(DOMAIN, "/").await;
    assert_eq!(text, "ok");
    let (after, answer) = tokio::task::spawn_blocking(move || slow.join().unwrap())
        .await
        .unwrap();
    assert!(
        after < Duration::from_secs(5),
        "slow visitor held for {after:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}
