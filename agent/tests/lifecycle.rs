//! The agent's life: refused keys, reconnection, go-away, pings, shutdown, several tunnels.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{sync::Arc, time::Duration};

use common::*;
use hopgate_protocol::{Frame, GoAway, Hello, HelloAck, HelloCode, Ping, Pong};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_key_makes_the_agent_exit_with_status_2_and_say_why() {
    let gateway = Gateway::start_with(Arc::new(|hello: &Hello| {
        HelloAck::rejected(
            HelloCode::BadKey,
            "invalid API key for this domain",
            hello.domain.clone(),
        )
    }));
    let mut agent = Agent::serve(&gateway, "3000", &[]);
    let session = gateway.next_session().await;
    assert_eq!(session.hello.client_api_key, KEY);
    let status = agent.exit_status(STEP).await;
    assert_eq!(status.code(), Some(2), "{}", agent.output());
    let output = agent.output();
    assert!(
        output.contains(&format!(
            "gateway refused {DOMAIN}: invalid API key for this domain (bad_key; not retrying"
        )),
        "{output}"
    );
    assert!(!output.contains("connected"), "{output}");
    // It did not retry.
    assert!(
        gateway
            .next_session_within(Duration::from_millis(1500))
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_refusal_is_retried_with_backoff() {
    let refusals = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = refusals.clone();
    let gateway = Gateway::start_with(Arc::new(move |hello: &Hello| {
        if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            HelloAck::rejected(
                HelloCode::Unavailable,
                "draining, try again",
                hello.domain.clone(),
            )
        } else {
            HelloAck::accepted(hello.domain.clone(), hopgate_protocol::PROTOCOL_VERSION)
        }
    }));
    let mut agent = Agent::serve(&gateway, "3000", &[]);
    let _refused = gateway.next_session().await;
    agent
        .wait_for("the refusal", STEP, |l| {
            l == format!("gateway refused {DOMAIN}: draining, try again")
        })
        .await;
    let line = agent
        .wait_for("the retry notice", STEP, |l| {
            l.starts_with("reconnecting in ")
        })
        .await;
    assert!(line.contains("refused (unavailable)"), "{line}");
    let _accepted = gateway.next_session().await;
    agent.connected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_session_is_reconnected_within_a_few_seconds() {
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let mut agent = Agent::serve(&gateway, &local.port().to_string(), &[]);
    let first = gateway.next_session().await;
    agent.connected().await;
    first.session.close("test drops the session");
    let dropped_at = std::time::Instant::now();
    let second = gateway
        .next_session_within(Duration::from_secs(3))
        .await
        .expect("no second hello within 3 s of the drop");
    // The first retry comes within 1 s; the rest is the handshake (slack for a busy CI).
    assert!(dropped_at.elapsed() < Duration::from_secs(3));
    assert_eq!(second.hello.domain, DOMAIN);
    let line = agent
        .wait_for("the reconnect notice", STEP, |l| {
            l.starts_with("reconnecting in ")
        })
        .await;
    assert!(line.contains("test drops the session"), "{line}");
    agent.connected().await;
    assert_eq!(get(&second.session, "/echo").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_gone_silent_is_noticed_and_reconnected_once_it_is_back() {
    let gateway = Gateway::start();
    let relay = UdpRelay::start(gateway.addr).await;
    let args: Vec<String> = [
        "http",
        "3000",
        "--domain",
        DOMAIN,
        "--key",
        KEY,
        "--fingerprint",
        &gateway.fingerprint,
        "--debug",
        "--server-name",
        "gw.hopgate.test",
        "--server",
        &relay.addr.to_string(),
    ]
    .map(String::from)
    .to_vec();
    let mut agent = Agent::spawn(&args, &[]);
    let _first = gateway.next_session().await;
    agent.connected().await;
    // The gateway vanishes without a word: nothing gets through any more.
    relay.set_silent(true);
    let line = agent
        .wait_for("the lost-session notice", Duration::from_secs(20), |l| {
            l.starts_with("reconnecting in ")
        })
        .await;
    assert!(
        line.contains("session lost") && line.contains("silent"),
        "{line}"
    );
    // Attempts fail while it is gone; once it is back, the agent is too.
    hopgate_test_support::poll_until(
        "an attempt while the gateway is gone",
        Duration::from_secs(20),
        || std::future::ready(relay.hellos_dropped() > 0),
    )
    .await;
    relay.set_silent(false);
    let second = within(
        "a new session after the outage",
        Duration::from_secs(45),
        gateway.next_session(),
    )
    .await;
    assert_eq!(second.hello.domain, DOMAIN);
    agent.connected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_answered() {
    let gateway = Gateway::start();
    let _agent = Agent::serve(&gateway, "3000", &[]);
    let mut session = gateway.next_session().await;
    for nonce in [7, 42, u64::MAX] {
        session
            .control_out
            .send(&Frame::Ping(Ping { nonce }))
            .await
            .unwrap();
        let answer = within("a pong", STEP, session.control.next())
            .await
            .unwrap();
        assert_eq!(answer, Some(Frame::Pong(Pong { nonce })));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_away_starts_a_new_session_at_once_while_requests_finish_on_the_old() {
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let mut agent = Agent::serve(&gateway, &local.port().to_string(), &[]);
    let mut old = gateway.next_session().await;
    agent.connected().await;
    // Stay up past the "go-away right after connecting" guard.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let in_flight = {
        let session = old.session.clone();
        tokio::spawn(async move { get(&session, "/held").await })
    };
    let reached = || local.seen().iter().any(|seen| seen.uri == "/held");
    hopgate_test_support::poll_until("the request reaches the service", STEP, || {
        std::future::ready(reached())
    })
    .await;
    let go_away = GoAway::new("gateway restarting for upgrade", Duration::from_secs(10));
    old.control_out.send(&Frame::GoAway(go_away)).await.unwrap();
    let sent = std::time::Instant::now();
    let new = gateway
        .next_session_within(Duration::from_millis(1500))
        .await
        .expect("no new session right after the go-away");
    assert!(sent.elapsed() < Duration::from_millis(1500));
    agent
        .wait_for("the go-away notice", STEP, |l| {
            l.contains("going away (gateway restarting for upgrade)")
        })
        .await;
    agent.connected().await;

    // The old session still serves its request; the new one serves new ones.
    assert_eq!(get(&new.session, "/echo").await.status(), 200);
    local.release();
    let held = within("the in-flight request", STEP, in_flight)
        .await
        .unwrap();
    assert_eq!(held.text(), "released");
    // The old session still answers pings while it drains.
    old.control_out
        .send(&Frame::Ping(Ping { nonce: 9 }))
        .await
        .unwrap();
    assert_eq!(
        within("a pong", STEP, old.control.next()).await.unwrap(),
        Some(Frame::Pong(Pong { nonce: 9 }))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_the_session_and_exits_0() {
    let gateway = Gateway::start();
    let mut agent = Agent::serve(&gateway, "3000", &[]);
    let session = gateway.next_session().await;
    agent.connected().await;
    agent.terminate();
    assert_eq!(agent.exit_status(STEP).await.code(), Some(0));
    let reason = within(
        "the session to close",
        Duration::from_secs(5),
        session.session.closed(),
    )
    .await;
    assert!(
        reason.to_string().contains("agent shutting down"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agent_serves_every_tunnel_of_its_config_file() {
    let gateway = Gateway::start();
    let app = LocalServer::start().await;
    let api = LocalServer::start().await;
    let dir = std::env::temp_dir().join(format!("hopgate-agent-it-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            r#"
            server_addr = "{addr}"
            server_name = "gw.hopgate.test"

            [[tunnel]]
            domain = "app.example.com"
            api_key = "{KEY}"
            local_target = {app}

            [[tunnel]]
            domain = "api.example.com"
            api_key = "{KEY}-2"
            local_target = "http://127.0.0.1:{api}"
            "#,
            addr = gateway.addr,
            app = app.port(),
            api = api.port(),
        ),
    )
    .unwrap();
    // The fingerprint comes from the environment, the rest from the file.
    let mut agent = Agent::spawn(
        &["--config".into(), path.to_string_lossy().into_owned()],
        &[
            ("HOP_CLIENT_SERVER_FINGERPRINT", &gateway.fingerprint),
            ("HOP_CLIENT_DEBUG", "true"),
        ],
    );
    let mut sessions = [gateway.next_session().await, gateway.next_session().await];
    sessions.sort_by(|a, b| a.hello.domain.cmp(&b.hello.domain));
    assert_eq!(sessions[0].hello.domain, "api.example.com");
    assert_eq!(sessions[0].hello.client_api_key, format!("{KEY}-2"));
    assert_eq!(sessions[1].hello.domain, "app.example.com");
    agent.connected().await;
    agent.connected().await;
    assert_eq!(get(&sessions[0].session, "/echo").await.status(), 200);
    assert_eq!(get(&sessions[1].session, "/echo").await.status(), 200);
    assert_eq!((api.seen().len(), app.seen().len()), (1, 1));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_name_is_resolved() {
    let gateway = Gateway::start();
    let port = gateway.addr.port().to_string();
    let args: Vec<String> = [
        "http",
        "3000",
        "--domain",
        DOMAIN,
        "--key",
        KEY,
        "--fingerprint",
        &gateway.fingerprint,
        "--debug",
        "--server",
        &format!("localhost:{port}"),
    ]
    .map(String::from)
    .to_vec();
    let mut agent = Agent::spawn(&args, &[]);
    let session = gateway.next_session().await;
    assert_eq!(session.hello.domain, DOMAIN);
    let line = agent.connected().await;
    assert!(
        line.starts_with(&format!("connected to localhost:{port} (127.0.0.1:{port})")),
        "{line}"
    );
}
