//! An agent killed while idle is found dead by the first request that needs it, long
//! before QUIC's idle timeout (10 s) would: the pod watches an agent only while requests
//! wait on it, pings it when unheard, and closes its session once it has been unheard for
//! `HOP_SERVER_AGENT_UNHEARD_AFTER` (4 s): the request gets its 502, or is served by
//! another agent of the pool. A live agent whose local service is slow is never closed.
//!
//! Real processes: a debug data-plane, real agents (SIGKILL), a local HTTP service.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hopgate_e2e::*;

const DOMAIN: &str = "app.hopgate.test";
const UNHEARD: &str = "hopgate_sessions_closed_total{reason=\"agent_unheard\"}";
/// A killed agent's requests are answered within this.
const WITHIN: Duration = Duration::from_secs(5);

fn url(dp: &DataPlane, path: &str) -> String {
    format!("https://{DOMAIN}:{}{path}", dp.https.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_agent_killed_turns_the_next_request_into_a_502_within_5_s() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let mut agent = Agent::start(&dp, DOMAIN, local);
    agent.wait_connected(Duration::from_secs(10));
    let visitor = dp.visitor(&[DOMAIN]);
    assert_eq!(
        visitor
            .get(url(&dp, "/echo"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Killed while idle; a second later (well inside QUIC's idle timeout) a visitor comes.
    agent.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        dp.metric("hopgate_agent_sessions").await,
        1,
        "still registered"
    );
    let sent = Instant::now();
    let status = visitor
        .get(url(&dp, "/echo"))
        .send()
        .await
        .unwrap()
        .status();
    let took = sent.elapsed();
    assert_eq!(status, 502);
    assert!(took < WITHIN, "502 after {took:?}\n{}", dp.logs());
    assert_eq!(dp.metric(UNHEARD).await, 1, "{}", dp.logs());
    poll_until(
        "the session gone and said so",
        Duration::from_secs(5),
        || async {
            dp.metric("hopgate_agent_sessions").await == 0
                && dp.logs().contains("agent unheard while requests wait")
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_agent_killed_while_idle_costs_no_request() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let mut agents = Vec::new();
    for _ in 0..2 {
        let local = start_local_service("127.0.0.1:0".parse().unwrap());
        let agent = Agent::start_with_args(&dp, DOMAIN, local, &["--pool"]);
        agent.wait_connected(Duration::from_secs(10));
        agents.push(agent);
    }
    assert_eq!(dp.metric("hopgate_pool_sessions").await, 2);

    agents[0].kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Requests at once, so that some go to the dead agent's session (equal loads
    // alternate): they wait for it to be found dead, then are retried on the live one.
    let visitor = dp.visitor(&[DOMAIN]);
    let sent = Instant::now();
    let requests: Vec<_> = (0..6)
        .map(|_| {
            let request = visitor.get(url(&dp, "/echo")).send();
            tokio::spawn(async move {
                let status = request.await.map_or(0, |r| r.status().as_u16());
                (status, sent.elapsed())
            })
        })
        .collect();
    for request in requests {
        let (status, took) = request.await.unwrap();
        assert_eq!(status, 200, "{}", dp.logs());
        assert!(took < WITHIN, "served after {took:?}");
    }
    assert_eq!(dp.metric(UNHEARD).await, 1, "{}", dp.logs());
    assert!(
        dp.metric("hopgate_request_retries_total{reason=\"stream_broke\"}")
            .await
            >= 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_agent_with_a_slow_service_is_not_closed() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start(&dp, DOMAIN, local);
    agent.wait_connected(Duration::from_secs(10));
    let visitor = dp.visitor(&[DOMAIN]);

    // `/slow` answers after 10 s: well past the 4 s an agent may go unheard; the agent,
    // idle meanwhile, is heard through its keepalives and its answers to the pod's pings.
    let response = visitor.get(url(&dp, "/slow")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "finally");
    assert_eq!(dp.metric(UNHEARD).await, 0, "{}", dp.logs());
    assert_eq!(
        dp.metric("hopgate_dtls_handshakes_total{result=\"ok\"}")
            .await,
        1,
        "the same session throughout"
    );
    assert!(agent.said().contains("connected"));
}
