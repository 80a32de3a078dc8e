//! Every agent on two pods, with real processes: a pod admits another tunnel connection
//! of the same agent beside the first (never replacing it), spreads requests over both,
//! and retires one its agent says is leaving once its requests are over; the real agent,
//! behind a UDP load balancer in front of two debug pods, ends with one session on each
//! (leaving the sessions that reached a pod it already serves from), and with one pod it
//! serves on one and says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use hopgate_e2e::{forwarder::Forwarder, ha::agent_metric, *};
use hopgate_protocol::{Frame, GoAway, Hello};

const DOMAIN: &str = "app.hopgate.test";
const AGENT_ID: &str = "0123456789abcdef0123456789abcdef";
const LEFT: &str = "hopgate_sessions_closed_total{reason=\"left\"}";

fn url(dp: &DataPlane, path: &str) -> String {
    format!("https://{DOMAIN}:{}{path}", dp.https.port())
}

/// Which fake session (1 or 2) took the slow request; 0 until one has.
static SLOW_ON: AtomicUsize = AtomicUsize::new(0);

/// Fake session `n` of agent `AGENT_ID`, answering every request with `name`; `/slow`
/// after 1.5 s.
async fn session_named(dp: &DataPlane, n: usize, name: &'static str) -> FakeAgent {
    let hello = Hello::new(DOMAIN, KEY, "0.0.0-test").from_agent(AGENT_ID);
    let agent = fake_agent(dp, hello).await;
    assert!(agent.ack.ok, "{:?}", agent.ack);
    serve(agent.session.clone(), move |head, _| {
        if head.uri == "/slow" {
            SLOW_ON.store(n, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(1500));
        }
        (200, Vec::new(), name.as_bytes().to_vec())
    });
    agent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agents_second_session_joins_the_first_and_a_leaving_one_finishes_its_requests() {
    let dp = DataPlane::start(&[DOMAIN], &[("HOP_POD_ID", "pod-x")]);
    let one = session_named(&dp, 1, "one").await;
    assert_eq!(
        one.ack.pod.as_deref(),
        Some("pod-x"),
        "the ack names the pod"
    );
    let two = session_named(&dp, 2, "two").await;
    assert!(
        two.ack
            .message
            .contains("joined this agent's other sessions"),
        "{:?}",
        two.ack
    );
    assert!(one.session.close_reason().is_none(), "the first stays");
    assert_eq!(dp.metric("hopgate_agent_sessions").await, 2);

    // Requests spread over both.
    let visitor = dp.visitor(&[DOMAIN]);
    let mut answers = Vec::new();
    for _ in 0..20 {
        let body = visitor.get(url(&dp, "/")).send().await.unwrap();
        answers.push(body.text().await.unwrap());
    }
    let ones = answers.iter().filter(|a| *a == "one").count();
    assert!((5..=15).contains(&ones), "{answers:?}");

    // A slow request holds one session.
    let slow = tokio::spawn(visitor.get(url(&dp, "/slow")).send());
    let busy_at = poll_for("the slow request taken", Duration::from_secs(5), || async {
        match SLOW_ON.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n - 1),
        }
    })
    .await;
    let idle_name = ["two", "one"][busy_at];
    let mut sessions = [one, two];
    // The busy session's agent says it is leaving: no new request goes to it.
    let (writer, _) = &mut sessions[busy_at].control;
    writer
        .send(&Frame::GoAway(GoAway::leaving("test")))
        .await
        .unwrap();
    for _ in 0..10 {
        let body = visitor.get(url(&dp, "/")).send().await.unwrap();
        assert_eq!(body.text().await.unwrap(), idle_name);
    }
    // Its request in flight finishes, then the pod closes it.
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.status(), 200, "the request in flight finished");
    assert_ne!(slow.text().await.unwrap(), idle_name);
    let busy = &sessions[busy_at].session;
    let closed = tokio::time::timeout(Duration::from_secs(5), busy.closed()).await;
    assert!(closed.is_ok(), "the leaving session was not closed");
    assert_eq!(dp.metric(LEFT).await, 1);
    assert_eq!(dp.metric("hopgate_agent_sessions").await, 1);
    assert!(sessions[1 - busy_at].session.close_reason().is_none());
}

/// A pod named `name` in debug mode, presenting the certificate in `state`.
fn pod(name: &str, state: Arc<TempDir>) -> DataPlane {
    DataPlane::start_in(&[DOMAIN], &[("HOP_POD_ID", name)], state)
}

/// The agent's metric `name` for the domain.
async fn tunnel_metric(agent: &Agent, name: &str) -> f64 {
    let addr = agent.metrics_addr(Duration::from_secs(10));
    agent_metric(addr, &format!("{name}{{domain=\"{DOMAIN}\"}}"))
        .await
        .unwrap_or(-1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_ends_with_one_session_on_each_of_two_pods() {
    let a = pod("pod-a", Arc::new(TempDir::new("dp")));
    let b = pod("pod-b", a.share_certificate());
    // New flows go to A, A, B, …: the agent's extra tunnel connection reaches A again, and leaves.
    let service = Forwarder::spreading(vec![a.dtls, a.dtls, b.dtls]).await;
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let args = ["--ha-connections", "2", "--metrics-listen", "127.0.0.1:0"];
    let agent = Agent::start_via_with_args(&a, service.addr, DOMAIN, local, &args);
    agent
        .output
        .wait_for("two sessions", Duration::from_secs(10), |line| {
            line.contains("on pods pod-a, pod-b (2 of 2 wanted)")
        });
    poll_until(
        "one session on each pod, the repeat gone",
        Duration::from_secs(5),
        || async {
            a.metric("hopgate_agent_sessions").await == 1
                && b.metric("hopgate_agent_sessions").await == 1
                && a.metric(LEFT).await == 1
        },
    )
    .await;
    assert_eq!(
        tunnel_metric(&agent, "hopgate_agent_tunnel_sessions").await,
        2.0
    );
    assert_eq!(
        tunnel_metric(&agent, "hopgate_agent_tunnel_pods").await,
        2.0
    );
    assert_eq!(
        tunnel_metric(&agent, "hopgate_agent_tunnel_sessions_wanted").await,
        2.0
    );
    // Each pod serves from its own session.
    for dp in [&a, &b] {
        assert_eq!(dp.status_of(DOMAIN, "/status/204").await, 204);
        assert_eq!(dp.metric("hopgate_relayed_requests_total").await, 0);
    }
    assert!(
        !agent.said().contains("serving on 1 pod"),
        "{}",
        agent.said()
    );
    let flows = service.flows.lock().unwrap().clone();
    assert_eq!(flows.len(), 3, "{flows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_pod_the_agent_serves_on_one_and_says_so() {
    let a = pod("pod-a", Arc::new(TempDir::new("dp")));
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let args = ["--ha-connections", "2", "--metrics-listen", "127.0.0.1:0"];
    let agent = Agent::start_with_args(&a, DOMAIN, local, &args);
    agent
        .output
        .wait_for("the notice", Duration::from_secs(15), |line| {
            line.contains("serving on 1 pod of 2 wanted: all attempts reached pod-a")
        });
    poll_until("the four repeats left", Duration::from_secs(5), || async {
        a.metric(LEFT).await == 4 && a.metric("hopgate_agent_sessions").await == 1
    })
    .await;
    assert_eq!(a.status_of(DOMAIN, "/status/204").await, 204);
    assert_eq!(
        tunnel_metric(&agent, "hopgate_agent_tunnel_sessions").await,
        1.0
    );
    assert_eq!(
        tunnel_metric(&agent, "hopgate_agent_tunnel_pods").await,
        1.0
    );
    let json = agent.logs.text();
    assert!(
        json.contains("serving on 1 pod of 2 wanted"),
        "the JSON log says it too: {json}"
    );
}
