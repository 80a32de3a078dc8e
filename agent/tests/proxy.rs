//! Requests through the real agent: heads and headers as sent, bodies streamed both ways,
//! many requests at once on one session.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use hopgate_protocol::{Frame, ResetCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_carries_the_domain_and_key_and_connected_is_printed_once() {
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let mut agent = Agent::serve(&gateway, &local.port().to_string(), &[]);
    let session = gateway.next_session().await;
    assert_eq!(session.hello.domain, DOMAIN);
    assert_eq!(session.hello.client_api_key, KEY);
    assert_eq!(
        session.hello.protocol_version,
        hopgate_protocol::PROTOCOL_VERSION
    );
    assert_eq!(session.hello.agent_version, env!("CARGO_PKG_VERSION"));
    let line = agent.connected().await;
    assert!(
        line.starts_with(&format!(
            "connected to {} over udp (session ready in ",
            gateway.addr
        )),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(
            "forwarding https://{DOMAIN} -> http://127.0.0.1:{}",
            local.port()
        )),
        "{line}"
    );
    // A request works, and no second `connected` line appears for the same session.
    assert_eq!(get(&session.session, "/echo").await.status(), 200);
    // Nothing to wait for: the check is that no line comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        agent
            .output()
            .lines()
            .filter(|l| l.starts_with("connected"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_reaches_the_local_service_as_sent_and_the_response_comes_back() {
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let mut agent = Agent::serve(&gateway, &format!("http://127.0.0.1:{}", local.port()), &[]);
    let session = gateway.next_session().await;
    agent.connected().await;

    let head = head(
        "GET",
        "/echo/path?q=hello%20world&x=1&x=2",
        &[
            ("accept", "text/html"),
            ("x-multi", "one"),
            ("x-forwarded-for", "203.0.113.9"),
            ("x-multi", "two"),
            ("cookie", "session=abc"),
        ],
    );
    let reply = request(&session.session, head, b"").await;
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.header_values("set-cookie"),
        ["a=1; Path=/", "b=2; Path=/"]
    );
    assert_eq!(reply.header_values("x-echo"), ["yes"]);
    assert_eq!(reply.text(), "GET /echo/path?q=hello%20world&x=1&x=2");
    assert!(reply.ended_cleanly && reply.reset.is_none());

    let seen = local.seen();
    assert_eq!(seen.len(), 1);
    let seen = &seen[0];
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.uri, "/echo/path?q=hello%20world&x=1&x=2");
    assert_eq!(seen.version, http::Version::HTTP_11);
    assert_eq!(seen.values("host"), [DOMAIN], "the visitor's Host is kept");
    assert_eq!(seen.values("x-multi"), ["one", "two"]);
    assert_eq!(seen.values("x-forwarded-for"), ["203.0.113.9"]);
    assert_eq!(seen.values("cookie"), ["session=abc"]);
    assert!(
        seen.values("transfer-encoding").is_empty(),
        "a GET without a body sends none: {seen:?}"
    );
    assert!(seen.values("content-length").is_empty(), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_of_the_response_are_stripped() {
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let _agent = Agent::serve(&gateway, &local.port().to_string(), &[]);
    let session = gateway.next_session().await;
    let reply = get(&session.session, "/hop").await;
    assert_eq!(reply.status(), 200);
    let names: Vec<String> = reply
        .head
        .as_ref()
        .unwrap()
        .headers
        .iter()
        .map(|h| h.name.to_ascii_lowercase())
        .collect();
    for dropped in [
        "connection",
        "x-private",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
    ] {
        assert!(
            !names.iter().any(|n| n == dropped),
            "{dropped} was forwarded: {names:?}"
        );
    }
    assert_eq!(reply.header_values("x-kept"), ["yes"]);
    assert_eq!(reply.text(), "hop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_mib_post_streams_up_and_a_download_streams_down() {
    const UP: u64 = 24 * 1024 * 1024 + 12_345;
    const DOWN: u64 = 16 * 1024 * 1024 + 999;
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let _agent = Agent::serve(&gateway, &local.port().to_string(), &[]);
    let session = gateway.next_session().await;

    // Upload, in 100 KiB chunks, with a content-length like a real visitor's.
    let len = UP.to_string();
    let mut exchange = Exchange::open(
        &session.session,
        head("POST", "/upload", &[("content-length", &len)]),
    )
    .await;
    for piece in pattern_pieces(UP, 3, 100 * 1024) {
        exchange.out.send_body(piece).await.unwrap();
    }
    exchange.end_body().await;
    let reply = exchange.reply().await;
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.text(),
        format!("{} {UP}", hex(&pattern_sha256(UP, 3)))
    );
    assert_eq!(local.seen()[0].values("content-length"), [len.as_str()]);

    // Upload without a length: sent chunked to the local service.
    let mut exchange = Exchange::open(&session.session, head("PUT", "/upload", &[])).await;
    for piece in pattern_pieces(UP, 4, 256 * 1024) {
        exchange.out.send_body(piece).await.unwrap();
    }
    exchange.end_body().await;
    let reply = exchange.reply().await;
    assert_eq!(
        reply.text(),
        format!("{} {UP}", hex(&pattern_sha256(UP, 4)))
    );
    assert_eq!(local.seen()[1].values("transfer-encoding"), ["chunked"]);

    // Download.
    let reply = get(&session.session, &format!("/download?bytes={DOWN}&seed=5")).await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.body_len, DOWN);
    assert_eq!(reply.body_sha256, pattern_sha256(DOWN, 5));
    assert!(reply.header_values("transfer-encoding").is_empty());
    assert!(reply.chunks > 1, "the download came as one chunk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_at_once_on_one_session() {
    const N: usize = 32;
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let _agent = Agent::serve(&gateway, &local.port().to_string(), &[]);
    let session = gateway.next_session().await;
    // One slow request holds its stream open the whole time: the others don't wait for it.
    let held = {
        let session = session.session.clone();
        tokio::spawn(async move { get(&session, "/held").await })
    };
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let session = session.session.clone();
        tasks.spawn(async move {
            let size = 100_000 + i as u64 * 7_919;
            let up = request(
                &session,
                head("POST", "/upload", &[]),
                &pattern_bytes(size, i as u8),
            )
            .await;
            assert_eq!(
                up.text(),
                format!("{} {size}", hex(&pattern_sha256(size, i as u8)))
            );
            let down = get(&session, &format!("/download?bytes={size}&seed={i}")).await;
            assert_eq!(
                down.body_sha256,
                pattern_sha256(size, i as u8),
                "request {i}"
            );
        });
    }
    while let Some(done) = within("concurrent requests", STEP * 3, tasks.join_next()).await {
        done.unwrap();
    }
    assert!(!held.is_finished(), "the held request finished early");
    local.release();
    assert_eq!(
        within("the held request", STEP, held).await.unwrap().text(),
        "released"
    );
}

/// The agent keeps its connections to the local service between bursts: three bursts of 64
/// concurrent requests (each held 300 ms by the service) need 64 connections, not new ones
/// per burst. (With a pool that kept only 32 idle, every burst reconnected the other 32:
/// that churn was a fifth of the agent's CPU at 64 concurrent requests.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_requests_reuse_pooled_connections() {
    const N: usize = 64;
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let _agent = Agent::serve(&gateway, &local.port().to_string(), &[]);
    let session = gateway.next_session().await;
    let mut first = 0;
    for burst in 0..3 {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..N {
            let session = session.session.clone();
            tasks.spawn(async move { get(&session, "/slow").await });
        }
        while let Some(done) = within("a burst", STEP, tasks.join_next()).await {
            let reply = done.unwrap();
            assert_eq!((reply.status(), reply.text()), (200, "slow".to_owned()));
        }
        // Answers end before their connections are back in the pool, and nothing says
        // when they are: a short pause.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if burst == 0 {
            first = local.connections();
            // Otherwise the test would prove nothing: a 32-idle pool wouldn't churn.
            assert!(first > 32, "the burst didn't overlap: {first} connections");
        }
    }
    let later = local.connections() - first;
    assert!(
        later <= 8,
        "the second and third bursts opened {later} more connections (first: {first}): \
         the pool closed idle ones"
    );
}

fn pattern_bytes(len: u64, seed: u8) -> Vec<u8> {
    pattern_pieces(len, seed, 64 * 1024)
        .flat_map(|b| b.to_vec())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_arrive_one_by_one() {
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let _agent = Agent::serve(&gateway, &local.port().to_string(), &[]);
    let session = gateway.next_session().await;
    let mut exchange = Exchange::open(
        &session.session,
        head("GET", "/sse", &[("accept", "text/event-stream")]),
    )
    .await;
    exchange.end_body().await;
    let Some(Frame::ResponseHead(response)) = exchange.next_frame().await else {
        panic!("no head")
    };
    assert_eq!(response.status, 200);
    // The local service sends the next event only when told: an agent that buffered would
    // never deliver the first one.
    for i in 1..=3 {
        if i > 1 {
            local.next_event();
        }
        match exchange.next_frame().await {
            Some(Frame::BodyChunk(data)) => {
                assert_eq!(data, Bytes::from(format!("data: event {i}\n\n")))
            }
            other => panic!("event {i}: got {other:?}"),
        }
    }
    assert!(matches!(
        exchange.next_frame().await,
        Some(Frame::EndOfBody(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_visitor_going_away_aborts_the_local_request() {
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let _agent = Agent::serve(&gateway, &local.port().to_string(), &[]);
    let session = gateway.next_session().await;

    // While the response streams: the gateway stops reading and resets its side.
    let mut exchange = Exchange::open(&session.session, head("GET", "/forever", &[])).await;
    exchange.end_body().await;
    assert!(matches!(
        exchange.next_frame().await,
        Some(Frame::ResponseHead(_))
    ));
    assert!(matches!(
        exchange.next_frame().await,
        Some(Frame::BodyChunk(_))
    ));
    exchange.reader.get_mut().stop(0);
    within(
        "the local request to be dropped",
        Duration::from_secs(5),
        local.forever_dropped(),
    )
    .await;

    // Before the response: a Reset frame while the request body is still open.
    let mut exchange = Exchange::open(&session.session, head("POST", "/hang", &[])).await;
    exchange
        .out
        .send_body(Bytes::from_static(b"partial"))
        .await
        .unwrap();
    let reached = || local.seen().iter().any(|seen| seen.uri == "/hang");
    hopgate_test_support::poll_until("the request reaches the service", STEP, || {
        std::future::ready(reached())
    })
    .await;
    exchange
        .out
        .send(&Frame::Reset(hopgate_protocol::Reset::new(
            ResetCode::Cancelled,
            "visitor went away",
        )))
        .await
        .unwrap();
    exchange.out.get_mut().finish().unwrap();
    // The agent abandons the stream rather than answering.
    let end = within("the agent to drop the stream", STEP, exchange.reader.next()).await;
    assert!(end.is_err() || matches!(end, Ok(None)), "{end:?}");

    // The session is fine afterwards.
    assert_eq!(get(&session.session, "/echo").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_is_asked_of_the_local_service_and_a_refusal_relayed() {
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let _agent = Agent::serve(&gateway, &local.port().to_string(), &[]);
    let session = gateway.next_session().await;
    let reply = request(
        &session.session,
        head(
            "GET",
            "/echo",
            &[("upgrade", "websocket"), ("sec-websocket-version", "13")],
        ),
        b"",
    )
    .await;
    // This local service doesn't switch: its ordinary answer comes back as it is.
    assert_eq!(reply.status(), 200);
    assert!(reply.ended_cleanly);
    let seen = local.seen();
    let asked = seen.last().expect("the request reached the local service");
    assert_eq!(asked.values("upgrade"), ["websocket"]);
    assert_eq!(asked.values("connection"), ["upgrade"]);
    assert_eq!(asked.values("sec-websocket-version"), ["13"]);
    // The session is fine afterwards.
    assert_eq!(get(&session.session, "/echo").await.status(), 200);
}
