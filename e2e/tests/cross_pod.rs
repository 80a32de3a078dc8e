//! Cross-pod routing with real processes: a control-plane, two pods subscribed to it with
//! relay listeners, the real agent and a local service. A visitor reaching the pod without
//! the agent's session is relayed to the pod with it; a pod told to stop (SIGTERM) under
//! load loses no visitor request while its agent moves to the other pod.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use hopgate_e2e::{forwarder::Forwarder, two_pods::TwoPods, *};
use sha2::{Digest, Sha256};

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
#[allow(clippy::too_many_lines, reason = "one scenario, told step by step")]
async fn a_visitor_on_the_other_pod_is_relayed_to_the_agents_session() {
    let cp = ControlPlane::start();
    let key = cp.register(DOMAIN).await;
    cp.register(NOBODY).await;
    let TwoPods {
        a, b, agent, cp, ..
    } = TwoPods::start_on(cp, DOMAIN, &key, &[]).await;
    assert!(pods_of(&cp, DOMAIN).await.contains("pod-a"));

    // The agent sees the same request whichever pod the visitor reached: the forwarding
    // headers are the first pod's (one X-Forwarded-For entry added, not two).
    let seen = |dp: &DataPlane| {
        let visitor = dp.visitor(&[DOMAIN]);
        let url = url(dp, "/echo?x=1");
        async move {
            let response = visitor
                .post(url)
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
    };
    let direct = seen(&a).await;
    let relayed = seen(&b).await;
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

    // Large bodies stream both ways through the relay.
    let visitor = b.visitor(&[DOMAIN]);
    let len: u64 = 48 << 20;
    let response = visitor
        .get(url(&b, &format!("/bytes/{len}")))
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
        .put(url(&b, "/echo"))
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

    // No session anywhere: 502 "agent offline", from the pod reached and from the relay
    // listener alike; a relayed request is never relayed again.
    assert_eq!(b.status_of(NOBODY, "/").await, 502);
    let token = RELAY_TOKEN;
    let (status, body) = relay_get(&b, NOBODY, Some(token)).await;
    assert_eq!(status, 502);
    assert!(body.contains("Agent offline"), "{body}");
    let (status, body) = relay_get(&b, DOMAIN, Some(token)).await;
    assert_eq!(
        (status, body.contains("Agent offline")),
        (502, true),
        "{body}"
    );
    let (status, body) = relay_get(&a, DOMAIN, Some(token)).await;
    assert_eq!(status, 200, "{body}");
    // The relay listener wants the relay token.
    assert_eq!(
        relay_get(&a, DOMAIN, Some("wrong-token-0123456789"))
            .await
            .0,
        401
    );
    assert_eq!(relay_get(&a, DOMAIN, None).await.0, 401);

    // A pod listed for the domain that can't be reached (a dead pod whose report has not
    // expired yet, sorted first): a request without a body goes on to the next pod.
    let dead = hopgate_table::SessionReport {
        domains: vec![DOMAIN.to_owned()],
        relay_port: Some(1),
        relay_tls: false,
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

    // A pod whose relay can't be reached answers 502 with the branded page.
    drop(agent);
    let mut a = a;
    a.kill();
    let visitor = b.visitor(&[DOMAIN]);
    let response = visitor.get(url(&b, "/echo")).send().await.unwrap();
    assert_eq!(response.status(), 502);
    assert!(response.text().await.unwrap().contains("HopGate"));
}

/// Which pods a kube-proxy-like client may send new requests to (polled `/readyz`).
struct Ready {
    pods: Vec<(std::net::SocketAddr, AtomicBool)>,
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::too_many_lines, reason = "one scenario, told step by step")]
async fn sigterm_under_load_fails_no_request_and_the_agent_moves_first() {
    let cp = ControlPlane::start();
    let key = cp.register(DOMAIN).await;
    let drain = [("HOP_SERVER_DRAIN_TIMEOUT", "20s")];
    let mut a = DataPlane::relaying(&cp, "pod-a", Arc::new(TempDir::new("dp")), &drain);
    let b = DataPlane::relaying(&cp, "pod-b", a.share_certificate(), &drain);
    assert_eq!(
        a.fingerprint, b.fingerprint,
        "the pods share the debug certificate"
    );
    a.wait_ready(Duration::from_secs(10)).await;
    b.wait_ready(Duration::from_secs(10)).await;

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
    let poller = tokio::spawn({
        let (ready, stop, service) = (ready.clone(), stop.clone(), service.clone());
        let pods = [a.dtls, b.dtls];
        async move {
            while !stop.load(Ordering::SeqCst) {
                ready.poll().await;
                let current = pods.iter().position(|p| *p == service.target()).unwrap();
                if !ready.pods[current].1.load(Ordering::SeqCst)
                    && let Some(other) = (0..2).find(|i| ready.pods[*i].1.load(Ordering::SeqCst))
                {
                    service.set_target(pods[other]);
                }
                // kube-proxy's polling interval.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });

    // Visitors: six clients, each request to a ready pod (round robin), body checked.
    let clients = [a.visitor(&[DOMAIN]), b.visitor(&[DOMAIN])];
    let ports = [a.https.port(), b.https.port()];
    let ok = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut load = Vec::new();
    for worker in 0..6usize {
        let (clients, ready, stop) = (clients.clone(), ready.clone(), stop.clone());
        let (ok, failures) = (ok.clone(), failures.clone());
        load.push(tokio::spawn(async move {
            let mut turn = worker;
            while !stop.load(Ordering::SeqCst) {
                turn += 1;
                let pod = if ready.pods[turn % 2].1.load(Ordering::SeqCst) {
                    turn % 2
                } else {
                    (turn + 1) % 2
                };
                let len = 1000 + (turn as u64 % 7) * 4096;
                let url = format!("https://{DOMAIN}:{}/bytes/{len}", ports[pod]);
                let outcome = match clients[pod].get(&url).send().await {
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
                };
                match outcome {
                    Ok(()) => drop(ok[pod].fetch_add(1, Ordering::SeqCst)),
                    Err(why) => failures.lock().unwrap().push(format!("pod {pod}: {why}")),
                }
            }
        }));
    }

    poll_until(
        "load reaches both pods",
        Duration::from_secs(20),
        || async { ok[0].load(Ordering::SeqCst) > 10 && ok[1].load(Ordering::SeqCst) > 10 },
    )
    .await;
    let before = [ok[0].load(Ordering::SeqCst), ok[1].load(Ordering::SeqCst)];
    // A slow request (10 s) is in flight on pod A when it is told to stop: it must finish
    // on the old session even after the agent has moved.
    let slow = tokio::spawn({
        let visitor = clients[0].clone();
        let url = format!("https://{DOMAIN}:{}/slow", ports[0]);
        async move {
            let response = visitor.get(url).send().await?;
            let status = response.status().as_u16();
            response.text().await.map(|body| (status, body))
        }
    });
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
    let moved = ok[1].load(Ordering::SeqCst);
    poll_until(
        "load goes on after the move",
        Duration::from_secs(20),
        || async { ok[1].load(Ordering::SeqCst) > moved + 50 },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    for worker in load {
        worker.await.unwrap();
    }
    poller.await.unwrap();
    let (status, a_logs, exited) = exit.await.unwrap();
    let slow = slow.await.unwrap().map_err(|e| format!("{e:?}"));
    assert_eq!(slow, Ok((200, "finally".to_owned())), "pod A: {a_logs}");

    let failures = failures.lock().unwrap().clone();
    let after = [ok[0].load(Ordering::SeqCst), ok[1].load(Ordering::SeqCst)];
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}\npod A: {a_logs}",
        failures.len()
    );
    assert!(
        after[1] > before[1] + 50,
        "requests went on after SIGTERM: {before:?} {after:?}"
    );
    assert_eq!(status.and_then(|s| s.code()), Some(0), "pod A: {a_logs}");
    // Not before the slow request ended, well before the drain deadline.
    let took = exited - sigterm;
    assert!(
        took > Duration::from_secs(9) && took < Duration::from_secs(20),
        "{took:?}"
    );
    assert!(a_logs.contains("agent moved to another pod"), "{a_logs}");
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
