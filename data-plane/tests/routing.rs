//! The data-plane as visitors and agents see it: real HTTPS and DTLS sockets, the pod
//! run in-process (`common::in_process`) with a stand-in agent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use hopgate_protocol::{Hello, HelloCode, Limits};
use hopgate_tunnel::FrameReader;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_domain_is_404_and_offline_agent_is_502_over_h2() {
    let dp = DataPlane::in_process(&["app.hopgate.test"], &[]);
    let visitor = dp.visitor(&["app.hopgate.test", "nobody.gw.hopgate.test"]);

    let response = visitor
        .get(format!(
            "https://nobody.gw.hopgate.test:{}/",
            dp.https.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "HTTP/2 must be negotiated per SNI name"
    );

    let response = visitor
        .get(format!("https://app.hopgate.test:{}/", dp.https.port()))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("Agent offline") && body.starts_with('{'),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_and_old_protocol_get_clear_answers() {
    let dp = DataPlane::in_process(&["app.hopgate.test"], &[]);
    let agent = fake_agent(
        &dp,
        Hello::new("app.hopgate.test", "wrong-key-0123456789abcdef", "test"),
    )
    .await;
    assert!(!agent.ack.ok);
    assert_eq!(agent.ack.code, HelloCode::BadKey);

    let agent = fake_agent(&dp, Hello::new("other.hopgate.test", KEY, "test")).await;
    assert_eq!(agent.ack.code, HelloCode::UnknownDomain);

    let mut old = Hello::new("app.hopgate.test", KEY, "test");
    old.protocol_version = 0;
    let agent = fake_agent(&dp, old).await;
    assert_eq!(agent.ack.code, HelloCode::UnsupportedVersion);
    assert!(
        agent.ack.message.contains("upgrade"),
        "{}",
        agent.ack.message
    );
    assert!(!dp.logs().contains(KEY), "a key reached the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_carried_to_the_agent_and_back() {
    let dp = DataPlane::in_process(&["app.hopgate.test"], &[]);
    let agent = fake_agent(&dp, Hello::new("app.hopgate.test", KEY, "test")).await;
    assert!(agent.ack.ok, "{}", agent.ack.message);
    serve(agent.session.clone(), |head, body| {
        let seen: Vec<String> = head
            .headers
            .iter()
            .map(|h| format!("{}: {}", h.name, String::from_utf8_lossy(&h.value)))
            .collect();
        let text = format!(
            "{} {}\n{}\nbody={}",
            head.method,
            head.uri,
            seen.join("\n"),
            body.len()
        );
        (
            201,
            vec![
                ("x-agent".into(), "yes".into()),
                ("set-cookie".into(), "a=1".into()),
                ("set-cookie".into(), "b=2".into()),
            ],
            text.into_bytes(),
        )
    });
    let visitor = dp.visitor(&["app.hopgate.test"]);
    let url = format!("https://app.hopgate.test:{}/path?q=1", dp.https.port());
    let response = visitor
        .post(&url)
        .header("x-custom", "one")
        .header("connection", "keep-alive")
        .body(vec![7u8; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let cookies: Vec<_> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    let text = response.text().await.unwrap();
    assert!(text.starts_with("POST /path?q=1\n"), "{text}");
    assert!(text.contains("x-custom: one"), "{text}");
    assert!(text.contains("x-forwarded-proto: https"), "{text}");
    assert!(text.contains("host: app.hopgate.test"), "{text}");
    assert!(text.ends_with("body=100000"), "{text}");

    // Many at once on the one session.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let visitor = visitor.clone();
        let url = format!("https://app.hopgate.test:{}/n/{i}", dp.https.port());
        tasks.spawn(async move { visitor.get(url).send().await?.text().await });
    }
    let mut done = 0;
    while let Some(result) = tasks.join_next().await {
        let text = result.unwrap().unwrap();
        assert!(text.starts_with("GET /n/"), "{text}");
        done += 1;
    }
    assert_eq!(done, 200);
    assert_eq!(dp.metric("hopgate_agent_sessions").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_agent_gives_502_fast_and_leaves_nothing_behind() {
    let dp = DataPlane::in_process(&["app.hopgate.test"], &[]);
    let agent = fake_agent(&dp, Hello::new("app.hopgate.test", KEY, "test")).await;
    // The agent accepts the request's stream and then dies without answering.
    let session = agent.session.clone();
    tokio::spawn(async move {
        let Ok((_send, recv)) = session.accept_stream().await else {
            return;
        };
        // Dies once the request has reached it.
        let mut reader = FrameReader::new(recv, Limits::default());
        let _head = reader.next().await;
        session.close("agent crashed");
        std::future::pending::<()>().await;
    });
    let visitor = dp.visitor(&["app.hopgate.test"]);
    let started = std::time::Instant::now();
    let response = visitor
        .get(format!("https://app.hopgate.test:{}/", dp.https.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert!(started.elapsed() < Duration::from_secs(5));
    poll_until(
        "no session or request left behind",
        Duration::from_secs(5),
        || async {
            dp.metric("hopgate_agent_sessions").await == 0
                && dp.metric("hopgate_requests_in_flight").await == 0
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_redirects_to_https() {
    let dp = DataPlane::in_process(&["app.hopgate.test"], &[]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(format!("http://{}/a?b=c", dp.http))
        .header("host", "app.hopgate.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(
        response.headers()["location"],
        "https://app.hopgate.test/a?b=c"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_takes_over_from_a_stale_one() {
    let dp = DataPlane::in_process(&["app.hopgate.test"], &[]);
    let mut first = fake_agent(&dp, Hello::new("app.hopgate.test", KEY, "first")).await;
    serve(first.session.clone(), |_, _| {
        (200, vec![], b"first".to_vec())
    });
    let second = fake_agent(&dp, Hello::new("app.hopgate.test", KEY, "second")).await;
    assert!(second.ack.ok);
    serve(second.session.clone(), |_, _| {
        (200, vec![], b"second".to_vec())
    });

    // The old agent is told to go away, then its session ends.
    let frame = tokio::time::timeout(Duration::from_secs(5), first.control.1.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&frame, Some(hopgate_protocol::Frame::GoAway(away)) if away.is_replaced()),
        "{frame:?}"
    );
    tokio::time::timeout(Duration::from_secs(5), first.session.closed())
        .await
        .unwrap();

    let text = dp.get_text("app.hopgate.test", "/").await;
    assert_eq!(text, "second");
    assert_eq!(dp.metric("hopgate_agent_sessions").await, 1);
}
