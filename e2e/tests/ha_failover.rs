//! Every agent on two pods, under load, with real processes: a control-plane, three pods
//! with relay listeners sharing one debug certificate, a UDP load balancer in front of
//! their DTLS ports that sends new agent flows to ready pods only, the real agent with two
//! sessions, and visitors' GETs (≈200 a second, reqwest) sent to ready pods only. A pod
//! killed with SIGKILL, and a rolling restart of all three, fail no GET; after the kill the
//! agent is back on two distinct pods within a few seconds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use hopgate_e2e::{
    forwarder::Forwarder,
    ha::{Load, Ready, agent_metric, spawn_kube_proxy},
    *,
};

const DOMAIN: &str = "shop.gw.hopgate.test";
/// One GET every 5 ms: about 200 a second.
const EVERY: Duration = Duration::from_millis(5);

/// Pods `pod-a`, `pod-b`, `pod-c` subscribed to `cp`, relaying, one certificate, ready.
async fn three_pods(cp: &ControlPlane, env: &[(&str, &str)]) -> Vec<DataPlane> {
    let a = DataPlane::relaying(cp, "pod-a", Arc::new(TempDir::new("dp")), env);
    let b = DataPlane::relaying(cp, "pod-b", a.share_certificate(), env);
    let c = DataPlane::relaying(cp, "pod-c", a.share_certificate(), env);
    let pods = vec![a, b, c];
    for dp in &pods {
        dp.wait_ready(Duration::from_secs(10)).await;
    }
    pods
}

/// The same pod started again on the ports it had, with its state.
fn restart(cp: &ControlPlane, name: &str, old: &DataPlane, env: &[(&str, &str)]) -> DataPlane {
    let https = old.https.to_string();
    let http = old.http.to_string();
    let dtls = old.dtls.to_string();
    let metrics = old.metrics.to_string();
    let relay = old.relay.unwrap().to_string();
    let mut all = vec![
        ("HOP_SERVER_HTTPS_LISTEN", https.as_str()),
        ("HOP_SERVER_HTTP_LISTEN", http.as_str()),
        ("HOP_SERVER_DTLS_LISTEN", dtls.as_str()),
        ("HOP_METRICS_LISTEN", metrics.as_str()),
        ("HOP_SERVER_RELAY_LISTEN", relay.as_str()),
    ];
    all.extend_from_slice(env);
    DataPlane::relaying(cp, name, old.state.clone(), &all)
}

/// The agent, in front of a local service, with two sessions through `service`.
fn ha_agent(pods: &[DataPlane], service: &Forwarder, key: &str) -> Agent {
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    Agent::start_via_with_key_and_args(
        &pods[0],
        service.addr,
        DOMAIN,
        local,
        key,
        &["--ha-connections", "2", "--metrics-listen", "127.0.0.1:0"],
    )
}

/// Waits until the agent holds two sessions on two pods (its metrics say so).
async fn holds_two(agent: &Agent, within: Duration) {
    let addr = agent.metrics_addr(Duration::from_secs(10));
    let metric = |name: &'static str| async move {
        agent_metric(addr, &format!("{name}{{domain=\"{DOMAIN}\"}}")).await
    };
    poll_until("the agent holds two sessions", within, || async {
        metric("hopgate_agent_tunnel_sessions").await == Some(2.0)
            && metric("hopgate_agent_tunnel_pods").await == Some(2.0)
    })
    .await;
}

/// Waits until the agent's latest status says it serves on two pods other than `not`.
async fn on_two_pods(agent: &Agent, not: Option<&str>, within: Duration) -> String {
    poll_for("the agent on two pods", within, || async {
        let said = agent.said();
        let line = said.lines().rev().find(|l| l.contains("(2 of 2 wanted)"))?;
        let pods = line.split("; on pods ").nth(1)?.to_owned();
        let fresh = not.is_none_or(|gone| !pods.contains(gone));
        fresh.then_some(pods)
    })
    .await
}

/// Visitors' clients, one per pod, and the pods' HTTPS ports.
fn visitors(pods: &[DataPlane]) -> (Vec<reqwest::Client>, Vec<u16>) {
    let clients = pods
        .iter()
        .map(|dp| dp.visitor_giving_up_after(&[DOMAIN], Duration::from_secs(20)))
        .collect();
    let ports = pods.iter().map(|dp| dp.https.port()).collect();
    (clients, ports)
}

/// Prints the run's figures (`bench/failover.sh` reads them), then checks none failed.
fn assert_none_failed(run: &str, load: &Load, pods: &[DataPlane], agent: &Agent) {
    let failures = load.failures();
    println!(
        "failover.{run}_requests {} requests",
        failures.len() + load.ok_total()
    );
    println!("failover.{run}_failed {} requests", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {} failed: {:?}\nagent: {}\npods: {}",
        failures.len(),
        failures.len() + load.ok_total(),
        &failures[..failures.len().min(20)],
        agent.said(),
        pods.iter()
            .map(DataPlane::logs)
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pod_killed_under_load_fails_no_get_and_the_agent_is_back_on_two_pods() {
    let cp = ControlPlane::start();
    let key = cp.register(DOMAIN).await;
    let mut pods = three_pods(&cp, &[]).await;
    let ready = Ready::of(&pods.iter().collect::<Vec<_>>());
    // The agent's flows go to A, then B; later to any ready pod.
    let service = Arc::new(Forwarder::spreading(vec![pods[0].dtls, pods[1].dtls]).await);
    let agent = ha_agent(&pods, &service, &key);
    let first = on_two_pods(&agent, None, Duration::from_secs(10)).await;
    assert_eq!(first, "pod-a, pod-b (2 of 2 wanted)");
    let stop = Arc::new(AtomicBool::new(false));
    let agent_pods = Arc::new(Mutex::new(vec![0, 1, 2]));
    let proxy = spawn_kube_proxy(ready.clone(), service.clone(), agent_pods, stop.clone());
    poll_until("pod-c relays", Duration::from_secs(10), || async {
        pods[2].status_of(DOMAIN, "/status/204").await == 204
    })
    .await;

    // Visitors through C (relayed to A or B) and through B (its own session).
    let (clients, ports) = visitors(&pods);
    let load = Load::new(3);
    let visiting = load.spawn(
        clients,
        ports,
        vec![1, 2],
        ready.clone(),
        DOMAIN,
        EVERY,
        stop.clone(),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = load.ok_total();
    ready.mark_down(0);
    pods[0].kill();
    let killed = Instant::now();
    let now_on = on_two_pods(&agent, Some("pod-a"), Duration::from_secs(10)).await;
    let back_in = killed.elapsed();
    assert_eq!(now_on, "pod-b, pod-c (2 of 2 wanted)");
    assert!(back_in < Duration::from_secs(8), "{back_in:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    visiting.await.unwrap();
    proxy.await.unwrap();
    println!(
        "failover.pod_kill_two_pods_again_ms {} ms",
        back_in.as_millis()
    );
    assert_none_failed("pod_kill", &load, &pods, &agent);
    let served = load.ok_total();
    assert!(served > before + 400, "{before} then {served}");
    assert!(load.ok[2].load(Ordering::SeqCst) > 200, "relayed through C");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_of_three_pods_under_load_fails_no_get() {
    let cp = ControlPlane::start();
    let key = cp.register(DOMAIN).await;
    let env = [("HOP_SERVER_DRAIN_TIMEOUT", "10s")];
    let mut pods = three_pods(&cp, &env).await;
    let ready = Ready::of(&pods.iter().collect::<Vec<_>>());
    let service = Arc::new(Forwarder::spreading(pods.iter().map(|p| p.dtls).collect()).await);
    let agent = ha_agent(&pods, &service, &key);
    on_two_pods(&agent, None, Duration::from_secs(10)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let agent_pods = Arc::new(Mutex::new(vec![0, 1, 2]));
    let proxy = spawn_kube_proxy(ready.clone(), service.clone(), agent_pods, stop.clone());
    for dp in &pods {
        poll_until("every pod serves", Duration::from_secs(10), || async {
            dp.status_of(DOMAIN, "/status/204").await == 204
        })
        .await;
    }
    let (clients, ports) = visitors(&pods);
    let load = Load::new(3);
    let visiting = load.spawn(
        clients,
        ports,
        vec![0, 1, 2],
        ready.clone(),
        DOMAIN,
        EVERY,
        stop.clone(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let names = ["pod-a", "pod-b", "pod-c"];
    for (i, name) in names.iter().enumerate() {
        pods[i].terminate();
        let status = tokio::task::block_in_place(|| pods[i].wait_exit(Duration::from_secs(15)));
        assert_eq!(status.and_then(|s| s.code()), Some(0), "{name} drained");
        let started = restart(&cp, name, &pods[i], &env);
        pods[i] = started;
        pods[i].wait_ready(Duration::from_secs(10)).await;
        // The agent holds two sessions again before the next pod goes.
        holds_two(&agent, Duration::from_secs(10)).await;
        poll_until(
            "the restarted pod serves",
            Duration::from_secs(10),
            || async { pods[i].status_of(DOMAIN, "/status/204").await == 204 },
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    visiting.await.unwrap();
    proxy.await.unwrap();
    assert_none_failed("rolling_restart", &load, &pods, &agent);
    let served = load.ok_total();
    assert!(served > 500, "{served}");
}
