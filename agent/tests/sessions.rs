//! A tunnel's sessions on several pods, against a gateway stand-in whose answers name the
//! pod: a session that reached a pod the tunnel already serves from says it is leaving, a
//! lost session is replaced while the other serves, and a gateway that names no pod gets
//! one session.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::*;
use hopgate_protocol::{Frame, Hello, HelloAck, PROTOCOL_VERSION};

/// Answers the n-th hello (from 0) as the pod `pods[n]` (the last one after that).
fn gateway_of_pods(pods: &'static [&'static str]) -> Gateway {
    let hellos = Arc::new(AtomicUsize::new(0));
    Gateway::start_with(Arc::new(move |hello: &Hello| {
        let n = hellos.fetch_add(1, Ordering::SeqCst).min(pods.len() - 1);
        HelloAck::accepted(hello.domain.clone(), PROTOCOL_VERSION).from_pod(pods[n])
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_pod_is_left_and_a_lost_session_is_replaced_while_the_other_serves() {
    let gateway = gateway_of_pods(&["pod-a", "pod-a", "pod-b", "pod-c"]);
    let local = LocalServer::start().await;
    let mut agent = Agent::serve(
        &gateway,
        &local.port().to_string(),
        &["--ha-connections", "2"],
    );
    let first = gateway.next_session().await;
    let mut repeat = gateway.next_session().await;
    let second = gateway.next_session().await;
    // Every session of the tunnel names the same agent.
    let id = first.hello.agent_id.clone().expect("an agent id");
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(repeat.hello.agent_id.as_deref(), Some(id.as_str()));
    assert_eq!(second.hello.agent_id.as_deref(), Some(id.as_str()));
    // The session that reached pod-a again says it is leaving.
    let said = within("the leaving frame", STEP, repeat.control.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&said, Frame::GoAway(away) if away.is_leaving()),
        "{said:?}"
    );
    repeat.session.close("left");
    agent
        .wait_for("two pods", STEP, |l| {
            l.contains("on pods pod-a, pod-b (2 of 2 wanted)")
        })
        .await;
    assert_eq!(get(&first.session, "/echo").await.status(), 200);
    assert_eq!(get(&second.session, "/echo").await.status(), 200);

    // pod-a's session is lost: the other serves while a new one is opened.
    first.session.close("test drops the session");
    let line = agent
        .wait_for("the loss", STEP, |l| {
            l.contains("still serving on 1 session")
        })
        .await;
    assert!(line.starts_with("app.example.com: pod-a"), "{line}");
    assert_eq!(get(&second.session, "/echo").await.status(), 200);
    let third = gateway.next_session().await;
    assert_eq!(third.hello.agent_id.as_deref(), Some(id.as_str()));
    agent
        .wait_for("two pods again", STEP, |l| {
            l.contains("on pods pod-b, pod-c (2 of 2 wanted)")
        })
        .await;
    assert_eq!(get(&third.session, "/echo").await.status(), 200);
    assert!(
        !agent.output().contains("reconnecting in"),
        "{}",
        agent.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_names_no_pod_gets_one_session_said_once() {
    let gateway = Gateway::start();
    let local = LocalServer::start().await;
    let mut agent = Agent::serve(
        &gateway,
        &local.port().to_string(),
        &["--ha-connections", "2"],
    );
    let only = gateway.next_session().await;
    agent
        .wait_for("the notice", STEP, |l| {
            l.contains("the gateway does not name its pods")
        })
        .await;
    assert!(
        gateway
            .next_session_within(Duration::from_secs(2))
            .await
            .is_none(),
        "the gateway opened no extra tunnel to the agent"
    );
    assert_eq!(get(&only.session, "/echo").await.status(), 200);
    assert_eq!(
        agent
            .output()
            .lines()
            .filter(|l| l.starts_with("app.example.com: the gateway does not name its pods"))
            .count(),
        1,
        "said once"
    );
}
