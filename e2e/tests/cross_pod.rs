//! Cross-pod routing with real processes: a control-plane, two pods subscribed to it with
//! relay listeners, the real agent and a local service. A visitor reaching the pod without
//! the agent's session is relayed to the pod with it; a pod told to stop (SIGTERM) under
//! load loses no visitor request while its agent moves to the other pod.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use hopgate_e2e::{forwarder::Forwarder, two_pods::TwoPods, *};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

const DOMAIN: &str = "shop.gw.hopgate.test";
const NOBODY: &str = "idle.gw.hopgate.test";

fn url(dp: &DataPlane, path: &str) -> String {
    format!("https://{DOMAIN}:{}{path}", dp.https.port())
}

/// The admin API's list of pods holding `domain`'s session.
async fn pods_of(cp: &ControlPlane, domain: &str) -> String {
    cp.domain(domain).await["pods"].to_string()
}

fn pattern_sha256(len: u64) -> String {
    let mut hasher = Sha256::new();
    let mut done = 0;
    while done < len {
        let n = (len - done).min(1 << 20);
        let chunk: Vec<u8> = (done..done + n).map(pattern).collect();
        hasher.update(&chunk);
        done += n;
    }
    hex::encode(hasher.finalize())
}

/// The relay listener of `dp`, asked directly with `token` for `host`.
async fn relay_get(dp: &DataPlane, host: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .get(format!(
            "http://{}/echo",
            dp.relay.expect("a relay listener")
        ))
        .header("host", host);
    if let Some(token) = token {
        request = request.header("x-hopgate-relay-token", token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_on_the_other_pod_is_relayed_to_the_agents_session() {
    let cp = ControlPlane::start();
    let key = cp.register(DOMAIN).await;
    cp.register(NOBODY).await;
    let TwoPods {
        a, b, agent, cp, ..
    } = TwoPods::start_on(cp, DOMAIN, &key, &[]).await;
    assert!(pods_of(&cp, DOMAIN).await.contains("pod-a"));

    the_agent_sees_the_same_request_from_either_pod(&a, &b).await;
    large_bodies_stream_both_ways_through_the_relay(&b).await;
    without_a_session_the_answer_is_agent_offline(&a, &b).await;
    the_relay_listener_wants_the_relay_token(&a).await;
    an_unreachable_pod_is_passed_over_for_the_next(&cp, &b).await;

    // A pod whose relay can't be reached answers 502 with the branded page.
    drop(agent);
    let mut a = a;
    a.kill();
    let visitor = b.visitor(&[DOMAIN]);
    let response = visitor.get(url(&b, "/echo")).send().await.unwrap();
    assert_eq!(response.status(), 502);
    assert!(response.text().await.unwrap().contains("HopGate"));
}

/// The lines of the request the agent's local service saw (sorted), for a POST through
/// `dp` carrying a forwarding header, the visitor's own Authorization and a request id.
async fn echoed_request_lines(dp: &DataPlane) -> Vec<String> {
    let response = dp
        .visitor(&[DOMAIN])
        .post(url(dp, "/echo?x=1"))
        .header("x-forwarded-for", "203.0.113.9")
        .header("authorization", "Bearer visitor-own")
        .header("x-hopgate-request-id", "0123")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-body-len"], "5");
    assert_eq!(response.headers()["x-query"], "x=1");
    let mut lines: Vec<String> = response
        .text()
        .await
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// The agent sees the same request whichever pod the visitor reached: the forwarding
/// headers are the first pod's (one X-Forwarded-For entry added, not two).
async fn the_agent_sees_the_same_request_from_either_pod(a: &DataPlane, b: &DataPlane) {
    let direct = echoed_request_lines(a).await;
    let relayed = echoed_request_lines(b).await;
    let host_line = |lines: &[String]| {
        lines
            .iter()
            .find(|l| l.starts_with("host: "))
            .cloned()
            .unwrap()
    };
    assert!(
        relayed.contains(&"x-forwarded-for: 203.0.113.9, 127.0.0.1".to_owned()),
        "{relayed:?}"
    );
    assert!(relayed.contains(&"authorization: Bearer visitor-own".to_owned()));
    assert!(
        !relayed.iter().any(|l| l.starts_with("x-hopgate-")),
        "{relayed:?}"
    );
    assert_eq!(
        host_line(&relayed),
        format!("host: {DOMAIN}:{}", b.https.port())
    );
    let without_host = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| {
                !l.starts_with("host: ")
                    && !l.starts_with("x-forwarded-host: ")
                    && !l.starts_with("forwarded: ")
            })
            .cloned()
            .collect()
    };
    assert!(
        !direct.iter().any(|l| l.starts_with("x-hopgate-")),
        "{direct:?}"
    );
    assert_eq!(without_host(&direct), without_host(&relayed));
    assert_eq!(a.metric("hopgate_relayed_requests_total").await, 0);
    assert!(b.metric("hopgate_relayed_requests_total").await >= 2);
    assert_eq!(b.metric("hopgate_relay_remote_domains").await, 1);
    assert_eq!(a.metric("hopgate_relay_remote_domains").await, 0);
}

/// A 48 MiB download and a 24 MiB streamed upload through pod B's relay, both checked by
/// length and SHA-256.
async fn large_bodies_stream_both_ways_through_the_relay(b: &DataPlane) {
    let visitor = b.visitor(&[DOMAIN]);
    let len: u64 = 48 << 20;
    let response = visitor
        .get(url(b, &format!("/bytes/{len}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(len));
    let mut hasher = Sha256::new();
    let mut got = 0u64;
    let mut response = response;
    while let Some(chunk) = response.chunk().await.unwrap() {
        got += chunk.len() as u64;
        hasher.update(&chunk);
    }
    assert_eq!(got, len);
    assert_eq!(hex::encode(hasher.finalize()), pattern_sha256(len));
    let upload: Vec<u8> = (0..(24u64 << 20)).map(|i| (i % 13) as u8).collect();
    let expected = hex::encode(Sha256::digest(&upload));
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        upload.chunks(256 * 1024).map(|c| Ok(c.to_vec())).collect();
    let response = visitor
        .put(url(b, "/echo"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-body-sha256"], expected.as_str());
    assert_eq!(
        response.headers()["x-body-len"],
        (24u64 << 20).to_string().as_str()
    );
}

/// No session anywhere: 502 "agent offline", from the pod reached and from the relay
/// listener alike; a relayed request is never relayed again.
async fn without_a_session_the_answer_is_agent_offline(a: &DataPlane, b: &DataPlane) {
    assert_eq!(b.status_of(NOBODY, "/").await, 502);
    let token = RELAY_TOKEN;
    let (status, body) = relay_get(b, NOBODY, Some(token)).await;
    assert_eq!(status, 502);
    assert!(body.contains("Agent offline"), "{body}");
    let (status, body) = relay_get(b, DOMAIN, Some(token)).await;
    assert_eq!(
        (status, body.contains("Agent offline")),
        (502, true),
        "{body}"
    );
    let (status, body) = relay_get(a, DOMAIN, Some(token)).await;
    assert_eq!(status, 200, "{body}");
}

/// The relay listener wants the relay token: a wrong one or none is 401.
async fn the_relay_listener_wants_the_relay_token(a: &DataPlane) {
    assert_eq!(
        relay_get(a, DOMAIN, Some("wrong-token-0123456789")).await.0,
        401
    );
    assert_eq!(relay_get(a, DOMAIN, None).await.0, 401);
}

/// A pod listed for the domain that can't be reached (a dead pod whose report has not
/// expired yet, sorted first): a request without a body goes on to the next pod.
async fn an_unreachable_pod_is_passed_over_for_the_next(cp: &ControlPlane, b: &DataPlane) {
    let dead = hopgate_table::SessionReport {
        domains: vec![DOMAIN.to_owned()],
        relay_port: Some(1),
        relay_tls: false,
        sessions: Vec::new(),
    };
    let cp_url = format!("http://{}", cp.internal);
    let internal = control_plane::INTERNAL_TOKEN;
    hopgate_table_client::report_sessions(
        &reqwest::Client::new(),
        &cp_url,
        internal,
        "pod-0",
        &dead,
    )
    .await
    .unwrap();
    poll_until(
        "pod-b tries the dead pod first, then goes on",
        Duration::from_secs(5),
        || async {
            let status = b.status_of(DOMAIN, "/status/204").await;
            assert_eq!(status, 204, "{}", b.logs());
            b.logs().contains("\"to\":\"http://127.0.0.1:1\"")
        },
    )
    .await;
}

/// Which pods a kube-proxy-like client may send new requests to (polled `/readyz`).
struct Ready {
    pods: Vec<(SocketAddr, AtomicBool)>,
}

impl Ready {
    async fn poll(&self) {
        for (metrics, ready) in &self.pods {
            let ok = reqwest::Client::new()
                .get(format!("http://{metrics}/readyz"))
                .timeout(Duration::from_millis(500))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            ready.store(ok, Ordering::SeqCst);
        }
    }

    fn is_ready(&self, pod: usize) -> bool {
        self.pods[pod].1.load(Ordering::SeqCst)
    }
}

/// kube-proxy: polls readiness until `stop`; once the pod new agent flows go to is not
/// ready, they go to a ready one (`dtls`: the pods' DTLS addresses, in `ready`'s order).
fn spawn_kube_proxy(
    ready: Arc<Ready>,
    service: Arc<Forwarder>,
    dtls: [SocketAddr; 2],
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            ready.poll().await;
            let current = dtls.iter().position(|p| *p == service.target()).unwrap();
            if !ready.is_ready(current)
                && let Some(other) = (0..2).find(|i| ready.is_ready(*i))
            {
                service.set_target(dtls[other]);
            }
            // kube-proxy's polling interval.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// Visitors' requests over both pods: how many each pod answered right, and every failure.
#[derive(Default)]
struct Load {
    ok: [AtomicUsize; 2],
    failures: Mutex<Vec<String>>,
}

impl Load {
    /// Six clients until `stop`, each request to a ready pod (round robin), body checked.
    fn spawn_visitors(
        self: &Arc<Self>,
        clients: &[reqwest::Client; 2],
        ports: [u16; 2],
        ready: &Arc<Ready>,
        stop: &Arc<AtomicBool>,
    ) -> Vec<JoinHandle<()>> {
        (0..6usize)
            .map(|worker| {
                let (clients, ready, stop) = (clients.clone(), ready.clone(), stop.clone());
                let load = self.clone();
                tokio::spawn(async move {
                    let mut turn = worker;
                    while !stop.load(Ordering::SeqCst) {
                        turn += 1;
                        let pod = if ready.is_ready(turn % 2) {
                            turn % 2
                        } else {
                            (turn + 1) % 2
                        };
                        let len = 1000 + (turn as u64 % 7) * 4096;
                        let url = format!("https://{DOMAIN}:{}/bytes/{len}", ports[pod]);
                        match get_pattern(&clients[pod], &url, len).await {
                            Ok(()) => drop(load.ok[pod].fetch_add(1, Ordering::SeqCst)),
                            Err(why) => load
                                .failures
                                .lock()
                                .unwrap()
                                .push(format!("pod {pod}: {why}")),
                        }
                    }
                })
            })
            .collect()
    }

    fn ok(&self, pod: usize) -> usize {
        self.ok[pod].load(Ordering::SeqCst)
    }

    fn oks(&self) -> [usize; 2] {
        [self.ok(0), self.ok(1)]
    }
}

/// A GET of `len` bytes of the pattern: `Err` says what was wrong.
async fn get_pattern(client: &reqwest::Client, url: &str, len: u64) -> Result<(), String> {
    match client.get(url).send().await {
        Ok(response) if response.status() == 200 => match response.bytes().await {
            Ok(body)
                if body.len() as u64 == len
                    && body
                        .iter()
                        .enumerate()
                        .all(|(i, b)| *b == pattern(i as u64)) =>
            {
                Ok(())
            }
            Ok(body) => Err(format!("wrong body ({} bytes)", body.len())),
            Err(err) => Err(format!("body: {err}")),
        },
        Ok(response) => Err(format!(
            "{}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        )),
        Err(err) => Err(format!("{err:?}")),
    }
}

/// Two pods with a relay listener and a 20 s drain, sharing one debug certificate, both
/// ready.
async fn start_two_pods(cp: &ControlPlane) -> (DataPlane, DataPlane) {
    let drain = [("HOP_SERVER_DRAIN_TIMEOUT", "20s")];
    let a = DataPlane::relaying(cp, "pod-a", Arc::new(TempDir::new("dp")), &drain);
    let b = DataPlane::relaying(cp, "pod-b", a.share_certificate(), &drain);
    assert_eq!(
        a.fingerprint, b.fingerprint,
        "the pods share the debug certificate"
    );
    a.wait_ready(Duration::from_secs(10)).await;
    b.wait_ready(Duration::from_secs(10)).await;
    (a, b)
}

/// A slow request (10 s) to pod A: its status and body.
fn spawn_slow_request(
    visitor: reqwest::Client,
    a_port: u16,
) -> JoinHandle<reqwest::Result<(u16, String)>> {
    let url = format!("https://{DOMAIN}:{a_port}/slow");
    tokio::spawn(async move {
        let response = visitor.get(url).send().await?;
        let status = response.status().as_u16();
        response.text().await.map(|body| (status, body))
    })
}

/// Pod A, told to stop at `sigterm`, exited 0 (`status`) once its slow request had ended
/// and well before the drain deadline, at `exited`, and says its agent moved.
fn pod_a_drained_and_exited_cleanly(
    status: Option<std::process::ExitStatus>,
    a_logs: &str,
    sigterm: Instant,
    exited: Instant,
) {
    assert_eq!(status.and_then(|s| s.code()), Some(0), "pod A: {a_logs}");
    // Not before the slow request ended, well before the drain deadline.
    let took = exited - sigterm;
    assert!(
        took > Duration::from_secs(9) && took < Duration::from_secs(20),
        "{took:?}"
    );
    assert!(a_logs.contains("agent moved to another pod"), "{a_logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_fails_no_request_and_the_agent_moves_first() {
    let cp = ControlPlane::start();
    let key = cp.register(DOMAIN).await;
    let (mut a, b) = start_two_pods(&cp).await;

    // The agent dials the "Service"; its first flow goes to pod A.
    let service = Arc::new(Forwarder::start(a.dtls).await);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start_via(&a, service.addr, DOMAIN, local, &key);
    agent.wait_connected(Duration::from_secs(10));
    poll_until("pod-b relays to pod-a", Duration::from_secs(5), || async {
        b.status_of(DOMAIN, "/status/204").await == 204
    })
    .await;

    // kube-proxy: poll readiness; new agent flows go to a ready pod.
    let ready = Arc::new(Ready {
        pods: vec![
            (a.metrics, AtomicBool::new(true)),
            (b.metrics, AtomicBool::new(true)),
        ],
    });
    let stop = Arc::new(AtomicBool::new(false));
    let poller = spawn_kube_proxy(
        ready.clone(),
        service.clone(),
        [a.dtls, b.dtls],
        stop.clone(),
    );
    let clients = [a.visitor(&[DOMAIN]), b.visitor(&[DOMAIN])];
    let load = Arc::new(Load::default());
    let visitors = load.spawn_visitors(&clients, [a.https.port(), b.https.port()], &ready, &stop);

    poll_until(
        "load reaches both pods",
        Duration::from_secs(20),
        || async { load.ok(0) > 10 && load.ok(1) > 10 },
    )
    .await;
    let before = load.oks();
    // A slow request (10 s) is in flight on pod A when it is told to stop: it must finish
    // on the old session even after the agent has moved.
    let slow = spawn_slow_request(clients[0].clone(), a.https.port());
    poll_until(
        "the slow request in flight",
        Duration::from_secs(10),
        || async { slow_requests_started(local) >= 1 },
    )
    .await;
    a.terminate();
    let sigterm = Instant::now();

    // The agent moves to pod B (its new flow goes there once A is not ready).
    poll_until(
        "the admin API shows the agent on pod-b only",
        Duration::from_secs(10),
        || async { pods_of(&cp, DOMAIN).await == "[\"pod-b\"]" },
    )
    .await;
    let exit = tokio::task::spawn_blocking(move || {
        let status = a.wait_exit(Duration::from_secs(25));
        (status, a.logs(), Instant::now())
    });
    // Load goes on after the move: pod B serves plenty more.
    let moved = load.ok(1);
    poll_until(
        "load goes on after the move",
        Duration::from_secs(20),
        || async { load.ok(1) > moved + 50 },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    for worker in visitors {
        worker.await.unwrap();
    }
    poller.await.unwrap();
    let (status, a_logs, exited) = exit.await.unwrap();
    let slow = slow.await.unwrap().map_err(|e| format!("{e:?}"));
    assert_eq!(slow, Ok((200, "finally".to_owned())), "pod A: {a_logs}");

    let failures = load.failures.lock().unwrap().clone();
    let after = load.oks();
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}\npod A: {a_logs}",
        failures.len()
    );
    assert!(
        after[1] > before[1] + 50,
        "requests went on after SIGTERM: {before:?} {after:?}"
    );
    pod_a_drained_and_exited_cleanly(status, &a_logs, sigterm, exited);
    assert_eq!(b.metric("hopgate_agent_sessions").await, 1);
    // The agent was told to go away and connected again, through the Service, to pod B.
    assert!(
        agent.said().contains("gateway is going away"),
        "{}",
        agent.said()
    );
    let flows = service.flows.lock().unwrap().clone();
    assert_eq!(flows.last().map(|f| f.1), Some(b.dtls), "{flows:?}");
    assert_eq!(b.status_of(DOMAIN, "/status/204").await, 204);
}
