//! Agent pools with real processes: one pod, real agents started with `--pool` (each in
//! front of its own local service), real visitors. Requests are spread over the pool, and
//! a long request keeps the next ones off its session while it lasts; an agent killed
//! under load fails no request that can be retried; a POST whose body was on its way when
//! its agent died gets a 502 and is never sent twice; the pool's cap refuses the agent
//! too many; agents without `--pool` still replace; the admin API lists a pool's
//! sessions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use hopgate_e2e::*;
use tokio::sync::Notify;

const DOMAIN: &str = "app.hopgate.test";

fn url(dp: &DataPlane, path: &str) -> String {
    format!("https://{DOMAIN}:{}{path}", dp.https.port())
}

/// A local service and a pooled agent in front of it.
fn pooled(dp: &DataPlane) -> (Agent, SocketAddr) {
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start_with_args(dp, DOMAIN, local, &["--pool"]);
    agent.wait_connected(Duration::from_secs(10));
    (agent, local)
}

fn echoes(local: SocketAddr) -> usize {
    seen_by(local).echoes.load(Ordering::SeqCst)
}

/// Sends a GET every `every` for `for_how_long`; the statuses, in order of sending (0: the
/// request failed without a response).
async fn steady_gets(dp: &DataPlane, every: Duration, for_how_long: Duration) -> Vec<u16> {
    let visitor = dp.visitor(&[DOMAIN]);
    let mut tick = tokio::time::interval(every);
    let mut sent = Vec::new();
    let started = tokio::time::Instant::now();
    while started.elapsed() < for_how_long {
        tick.tick().await;
        let request = visitor.get(url(dp, "/echo")).send();
        sent.push(tokio::spawn(async move {
            request.await.map_or(0, |r| r.status().as_u16())
        }));
    }
    let mut statuses = Vec::with_capacity(sent.len());
    for request in sent {
        statuses.push(request.await.unwrap());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_spreads_requests_and_loses_none_when_an_agent_is_killed() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let (mut first, first_local) = pooled(&dp);
    let (second, second_local) = pooled(&dp);
    assert!(
        second.said().contains("joined the pool"),
        "{}",
        second.said()
    );
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "a pooled agent replaced"
    );
    assert_eq!(dp.metric("hopgate_pool_sessions").await, 2);

    // Both serve: requests one after the other alternate between equally idle agents.
    let visitor = dp.visitor(&[DOMAIN]);
    for _ in 0..40 {
        let response = visitor.get(url(&dp, "/echo")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let (a, b) = (echoes(first_local), echoes(second_local));
    assert_eq!(a + b, 40);
    assert!((15..=25).contains(&a), "uneven spread: {a} and {b}");

    // ~200 GETs a second for 3 s; one agent is killed (SIGKILL) a second in.
    let kill = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        first.kill();
    };
    let load = steady_gets(&dp, Duration::from_millis(5), Duration::from_secs(3));
    let (statuses, ()) = tokio::join!(load, kill);
    let failed: Vec<_> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(
        statuses.len() > 400,
        "only {} requests sent",
        statuses.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}",
        failed.len(),
        statuses.len()
    );
    assert!(echoes(second_local) > b + 100, "the live agent took over");
    // Requests were on the killed agent's session (ties alternate until it holds one):
    // they were answered through the other.
    let retried = "hopgate_request_retries_total{reason=\"stream_broke\"}";
    assert!(dp.metric(retried).await >= 1);
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_request_weighs_on_its_session_while_it_lasts() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let (_first, first_local) = pooled(&dp);
    let (_second, second_local) = pooled(&dp);
    // A 10-second answer holds one session (as an open WebSocket or a long download does).
    let visitor = dp.visitor(&[DOMAIN]);
    let slow = tokio::spawn(visitor.get(url(&dp, "/slow")).send());
    poll_until(
        "the slow request in flight",
        Duration::from_secs(10),
        || async { slow_requests_started(first_local) + slow_requests_started(second_local) == 1 },
    )
    .await;
    let (busy, idle) = if slow_requests_started(first_local) == 1 {
        (first_local, second_local)
    } else {
        (second_local, first_local)
    };
    // Every request meanwhile goes to the other, least loaded, session.
    for _ in 0..10 {
        let response = visitor.get(url(&dp, "/echo")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!((echoes(busy), echoes(idle)), (0, 10));
    let least = "hopgate_pool_choices_total{choice=\"least_outstanding\"}";
    assert!(dp.metric(least).await >= 10);
    slow.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_body_was_on_its_way_gets_a_502_and_is_never_sent_twice() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let (mut first, first_local) = pooled(&dp);
    let (mut second, second_local) = pooled(&dp);

    // The body's first piece goes up; the rest waits until the agent is gone.
    let release = Arc::new(Notify::new());
    let held = release.clone();
    let body = futures_util::stream::unfold(0, move |sent| {
        let held = held.clone();
        async move {
            match sent {
                0 => Some((Ok::<_, std::io::Error>(vec![b'x'; 10_000]), 1)),
                1 => {
                    held.notified().await;
                    Some((Ok(vec![b'y'; 10_000]), 2))
                }
                _ => None,
            }
        }
    });
    let visitor = dp.visitor(&[DOMAIN]);
    let post = visitor
        .post(url(&dp, "/upload"))
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let post = tokio::spawn(post);
    let begun = |local| seen_by(local).uploads_begun.load(Ordering::SeqCst);
    poll_until(
        "the upload reached a service",
        Duration::from_secs(10),
        || async { begun(first_local) + begun(second_local) == 1 },
    )
    .await;
    // Kill the agent carrying it.
    let (carrier, other) = if begun(first_local) == 1 {
        (&mut first, second_local)
    } else {
        (&mut second, first_local)
    };
    carrier.kill();
    let response = tokio::time::timeout(Duration::from_secs(15), post)
        .await
        .expect("an answer once the session is declared dead")
        .unwrap();
    release.notify_one();
    let response = response.unwrap();
    assert_eq!(response.status(), 502);
    let page = response.text().await.unwrap();
    assert!(page.contains("It was not retried"), "{page}");
    assert_eq!(begun(other), 0, "the POST was sent twice");
    for reason in ["session_lost", "stream_broke"] {
        let retries = format!("hopgate_request_retries_total{{reason=\"{reason}\"}}");
        assert_eq!(dp.metric(&retries).await, 0, "{reason}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_cap_refuses_one_agent_too_many_and_says_why() {
    let dp = DataPlane::start(&[DOMAIN], &[("HOP_SERVER_MAX_POOL_SESSIONS", "2")]);
    let (first, _) = pooled(&dp);
    let (second, _) = pooled(&dp);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let third = Agent::start_with_args(&dp, DOMAIN, local, &["--pool"]);
    third
        .output
        .wait_for_async("the refusal", Duration::from_secs(10), |line| {
            line.contains("refused") && line.contains("pool already holds 2 sessions")
        })
        .await;
    assert_eq!(
        dp.metric("hopgate_dtls_handshakes_total{result=\"pool_full\"}")
            .await,
        1
    );
    assert_eq!(dp.metric("hopgate_agent_sessions").await, 2);
    drop((first, second, third));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_pool_replaces_the_pool_and_a_pooled_one_replaces_it() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let (mut first, _) = pooled(&dp);
    let (mut second, _) = pooled(&dp);
    // Without --pool: the newer agent replaces the whole pool, and says so.
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let mut single = Agent::start(&dp, DOMAIN, local);
    single.wait_connected(Duration::from_secs(10));
    assert!(
        single.said().contains("replaced the pool of 2 agents"),
        "{}",
        single.said()
    );
    for pooled in [&mut first, &mut second] {
        let status = pooled.exited_within(Duration::from_secs(5)).await;
        assert_eq!(status.expect("a replaced agent stops").code(), Some(1));
        assert!(
            pooled.said().contains("without --pool"),
            "{}",
            pooled.said()
        );
    }
    // A pooled agent replaces the agent that didn't ask for a pool.
    let (_pool, _) = pooled(&dp);
    let status = single.exited_within(Duration::from_secs(5)).await;
    assert_eq!(status.expect("the single agent stops").code(), Some(1));
    assert!(
        single.said().contains("not started with --pool"),
        "{}",
        single.said()
    );
    assert_eq!(dp.metric("hopgate_agent_sessions").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_lists_the_sessions_of_a_pool() {
    let cp = ControlPlane::start();
    let key = cp.register(DOMAIN).await;
    let dp = DataPlane::subscribed(&cp, "pod-a", Arc::new(TempDir::new("dp")));
    dp.wait_ready(Duration::from_secs(10)).await;
    let mut agents = Vec::new();
    for _ in 0..2 {
        let local = start_local_service("127.0.0.1:0".parse().unwrap());
        let agent = Agent::start_with_key_and_args(&dp, DOMAIN, local, &key, &["--pool"]);
        agent.wait_connected(Duration::from_secs(10));
        agents.push(agent);
    }
    poll_until("both sessions listed", Duration::from_secs(10), || async {
        cp.domain(DOMAIN).await["sessions"]
            .as_array()
            .is_some_and(|s| s.len() == 2)
    })
    .await;
    let view = cp.domain(DOMAIN).await;
    let sessions = view["sessions"].as_array().unwrap();
    for session in sessions {
        assert_eq!(session["pod"], "pod-a", "{view}");
        assert_eq!(session["pooled"], true, "{view}");
        assert!(session["since"].as_str().is_some(), "{view}");
        assert!(session["in_flight"].as_u64().is_some(), "{view}");
    }
    assert_ne!(sessions[0]["session_id"], sessions[1]["session_id"]);
}
