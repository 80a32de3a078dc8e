//! When the local service fails, the gateway gets a Reset that says how, and the agent
//! carries on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use hopgate_protocol::ResetCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_service_that_is_down_then_up() {
    let gateway = Gateway::start();
    // Refuses connections until the service comes up on it.
    let down = hopgate_test_support::ClosedPort::new();
    let port = down.addr().port();
    let mut agent = Agent::serve(&gateway, &port.to_string(), &[]);
    let session = gateway.next_session().await;
    agent.connected().await;

    let reply = get(&session.session, "/echo").await;
    let reset = reply.reset.expect("a reset, not a response");
    assert!(reply.head.is_none());
    assert_eq!(reset.code, ResetCode::UpstreamUnreachable);
    assert_eq!(
        reset.message,
        format!("connection refused to 127.0.0.1:{port}")
    );
    let line = agent
        .wait_for("a log line for the failure", STEP, |l| {
            l.contains("connection refused")
        })
        .await;
    assert!(
        line.contains(DOMAIN) && line.contains("GET /echo"),
        "{line}"
    );

    // The service comes up on that port: the same agent, same session, now works.
    let listener = down.open();
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let _local = LocalServer::start_on(listener);
    let reply = get(&session.session, "/echo?again=1").await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.text(), "GET /echo?again=1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_service_that_never_answers_times_out() {
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let _agent = Agent::serve(
        &gateway,
        &local.port().to_string(),
        &["--response-timeout", "1"],
    );
    let session = gateway.next_session().await;
    let started = Instant::now();
    let reply = get(&session.session, "/hang").await;
    let reset = reply.reset.expect("a reset");
    assert_eq!(reset.code, ResetCode::UpstreamTimeout);
    assert_eq!(
        reset.message,
        format!("no response from 127.0.0.1:{} within 1 s", local.port())
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1) && started.elapsed() < Duration::from_secs(8)
    );
    // Other requests are unaffected.
    assert_eq!(get(&session.session, "/echo").await.status(), 200);
}

/// A TCP service that answers every connection with `answer` after reading the request.
async fn raw_service(answer: &'static [u8]) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(answer).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_service_that_speaks_garbage_is_a_protocol_error() {
    let port = raw_service(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
    let gateway = Gateway::start();
    let _agent = Agent::serve(&gateway, &port.to_string(), &[]);
    let session = gateway.next_session().await;
    let reply = get(&session.session, "/").await;
    let reset = reply.reset.expect("a reset");
    assert_eq!(reset.code, ResetCode::UpstreamProtocolError);
    assert!(
        reset
            .message
            .starts_with(&format!("127.0.0.1:{port} sent no valid HTTP response")),
        "{reset:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_body_that_breaks_off_ends_in_a_reset() {
    let port = raw_service(
        b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly forty bytes of the thousand promised",
    )
    .await;
    let gateway = Gateway::start();
    let _agent = Agent::serve(&gateway, &port.to_string(), &[]);
    let session = gateway.next_session().await;
    let reply = get(&session.session, "/").await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.header_values("content-length"), ["1000"]);
    assert!(
        !reply.ended_cleanly,
        "a truncated body must not end with EndOfBody"
    );
    let reset = reply.reset.expect("a reset after the head");
    assert_eq!(reset.code, ResetCode::UpstreamProtocolError);
    assert!(reset.message.contains("failed midway"), "{reset:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upload_is_not_a_slow_service() {
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let _agent = Agent::serve(
        &gateway,
        &local.port().to_string(),
        &["--response-timeout", "1"],
    );
    let session = gateway.next_session().await;
    // The visitor takes 2.5 s to upload; the service answers as soon as it has it all.
    let mut exchange = Exchange::open(&session.session, head("POST", "/upload", &[])).await;
    for piece in pattern_pieces(10 * 64 * 1024, 6, 64 * 1024) {
        exchange.out.send_body(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    exchange.end_body().await;
    let reply = exchange.reply().await;
    assert_eq!(reply.reset, None);
    assert_eq!(
        reply.text(),
        format!(
            "{} {}",
            hex(&pattern_sha256(10 * 64 * 1024, 6)),
            10 * 64 * 1024
        )
    );
}
