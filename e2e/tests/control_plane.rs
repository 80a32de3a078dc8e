//! The table push end to end with real processes: the control-plane's admin API → its
//! table stream → data-plane pods → the real agent → a local service.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use hopgate_e2e::*;

/// Polls `check` until it holds; how long that took.
async fn within<F, Fut>(limit: Duration, what: &str, check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    poll_until(what, limit, check).await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_serve_unregister_through_the_pushed_table() {
    let cp = ControlPlane::start();
    let dp = DataPlane::subscribed(&cp, "pod-a", Arc::new(TempDir::new("dp")));
    dp.wait_ready(Duration::from_secs(10)).await;
    let domain = "shop.gw.hopgate.test";
    assert_eq!(dp.status_of(domain, "/").await, 404);

    let key = cp.register(domain).await;
    assert_eq!(key.len(), 64, "a 256-bit key in hex: {key}");
    within(
        Duration::from_secs(1),
        "registration reaches the pod",
        || async { dp.status_of(domain, "/").await == 502 },
    )
    .await;

    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let mut agent = Agent::start_with_key(&dp, domain, local, &key);
    agent.wait_connected(Duration::from_secs(10));
    assert_eq!(dp.status_of(domain, "/echo").await, 200);
    // The pod reports the session; the admin API shows where the agent is.
    within(
        Duration::from_secs(5),
        "the admin API shows the agent",
        || async {
            let view = cp.domain(domain).await;
            view["connected"] == true && view["pods"].to_string().contains("pod-a")
        },
    )
    .await;

    cp.unregister(domain).await;
    let gone = within(
        Duration::from_secs(1),
        "unregister drops the session",
        || async { dp.metric("hopgate_agent_sessions").await == 0 },
    )
    .await;
    assert!(gone < Duration::from_secs(1));
    assert_eq!(dp.status_of(domain, "/echo").await, 404);
    // The agent learns at its next hello that the domain is gone, and stops.
    let status = agent.exited_within(Duration::from_secs(10)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{}", agent.said());
    assert!(agent.said().contains("not registered"), "{}", agent.said());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_drops_the_session_and_only_the_new_key_works() {
    let cp = ControlPlane::start();
    let dp = DataPlane::subscribed(&cp, "pod-r", Arc::new(TempDir::new("dp")));
    dp.wait_ready(Duration::from_secs(10)).await;
    let domain = "api.gw.hopgate.test";
    let old = cp.register(domain).await;
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let mut agent = Agent::start_with_key(&dp, domain, local, &old);
    agent.wait_connected(Duration::from_secs(10));
    assert_eq!(dp.status_of(domain, "/echo").await, 200);

    let new = cp.rotate(domain).await;
    assert_ne!(new, old);
    within(
        Duration::from_secs(1),
        "rotation drops the session",
        || async { dp.metric("hopgate_agent_sessions").await == 0 },
    )
    .await;
    // The old key is refused at the next hello: the agent says so and stops.
    let status = agent.exited_within(Duration::from_secs(10)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{}", agent.said());
    assert!(agent.said().contains("bad_key"), "{}", agent.said());

    let agent = Agent::start_with_key(&dp, domain, local, &new);
    agent.wait_connected(Duration::from_secs(10));
    assert_eq!(dp.status_of(domain, "/echo").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pods_see_a_registration_within_a_second() {
    let cp = ControlPlane::start();
    let pods = [
        DataPlane::subscribed(&cp, "pod-1", Arc::new(TempDir::new("dp"))),
        DataPlane::subscribed(&cp, "pod-2", Arc::new(TempDir::new("dp"))),
    ];
    for pod in &pods {
        pod.wait_ready(Duration::from_secs(10)).await;
    }
    for i in 0..5 {
        let domain = format!("site{i}.gw.hopgate.test");
        cp.register(&domain).await;
        for pod in &pods {
            let took = within(Duration::from_secs(1), "both pods route it", || async {
                pod.status_of(&domain, "/").await == 502
            })
            .await;
            assert!(took < Duration::from_secs(1));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_serves_from_its_last_snapshot_while_the_control_plane_is_down() {
    let mut cp = ControlPlane::start();
    let state = Arc::new(TempDir::new("dp"));
    let mut dp = DataPlane::subscribed(&cp, "pod-s", state.clone());
    dp.wait_ready(Duration::from_secs(10)).await;
    let domain = "blog.gw.hopgate.test";
    let key = cp.register(domain).await;
    within(
        Duration::from_secs(1),
        "registration reaches the pod",
        || async { dp.status_of(domain, "/").await == 502 },
    )
    .await;

    // The pod writes its snapshot just after applying a change (not before the change is
    // served): wait for the file to hold the domain before pulling the plug.
    let snapshot = state.0.join(hopgate_table_client::SNAPSHOT_FILE);
    within(
        Duration::from_secs(2),
        "the snapshot file is written",
        || async {
            std::fs::read(&snapshot)
                .is_ok_and(|bytes| bytes.windows(domain.len()).any(|w| w == domain.as_bytes()))
        },
    )
    .await;

    // Control-plane gone, pod restarted: it serves from the snapshot it wrote.
    cp.kill();
    dp.kill();
    let dp = DataPlane::subscribed(&cp, "pod-s", state);
    dp.wait_ready(Duration::from_secs(10)).await;
    assert_eq!(dp.metric("hopgate_table_connected").await, 0);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start_with_key(&dp, domain, local, &key);
    agent.wait_connected(Duration::from_secs(10));
    assert_eq!(dp.status_of(domain, "/echo").await, 200);
    assert_eq!(dp.status_of("other.gw.hopgate.test", "/").await, 404);
}
