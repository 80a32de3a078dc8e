//! Production certificates end to end: the control-plane orders them from a real ACME
//! server (Debian's Pebble, validation on, 5 % nonce rejection on), the HTTP-01 challenge
//! is answered by a data-plane pod from the pushed table, and every pod serves the
//! certificates by SNI — checked with curl against Pebble's root, over HTTP/1.1 and
//! HTTP/2 — while the agent verifies the gateway's DTLS certificate against that root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{process::Command, time::Duration};

use hopgate_e2e::*;
use hopgate_test_support::Pebble;

const GATEWAY: &str = "gw.hopgate.test";

/// `curl` through `dp` to `https://domain/path`, trusting only `root`: (exit code, HTTP
/// status, HTTP version, body).
fn curl(
    dp: &DataPlane,
    root: &std::path::Path,
    domain: &str,
    path: &str,
    http2: bool,
) -> (i32, String) {
    let port = dp.https.port();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(root)
        .args(["--resolve", &format!("{domain}:{port}:127.0.0.1")])
        .arg(if http2 { "--http2" } else { "--http1.1" })
        .args(["-w", "\n%{http_code} %{http_version}"])
        .arg(format!("https://{domain}:{port}{path}"))
        .output()
        .expect("curl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_serve_acme_certificates_and_agents_verify_the_gateway() {
    // Pebble validates against pod B's HTTP listener only: pod A gets its certificates
    // all the same, through the table.
    let http_b = hopgate_test_support::unused_port();
    let pebble = Pebble::start(http_b);
    let root = std::fs::read(&pebble.root).unwrap();
    let cp = ControlPlane::start_with(&pebble.control_plane_env(GATEWAY));
    let pod_b = DataPlane::production(&cp, "pod-b", &format!("127.0.0.1:{http_b}"), &root);
    let pod_a = DataPlane::production(&cp, "pod-a", "127.0.0.1:0", &root);
    // Ready only once the gateway's own certificate has arrived.
    pod_a.wait_ready(Duration::from_secs(60)).await;
    pod_b.wait_ready(Duration::from_secs(60)).await;

    let domain = "shop.example.test";
    let key = cp.register(domain).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for pod in [&pod_a, &pod_b] {
        // The certificate verifies against Pebble's root (curl exits 0): the agent isn't
        // there yet, so the answer is the 502 "agent offline" page.
        loop {
            let (code, text) = curl(pod, &pebble.root, domain, "/", false);
            if code == 0 {
                assert!(text.ends_with("502 1.1"), "{text}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no verifiable certificate for {domain}: {text}\n{}",
                serde_json::to_string(&cp.domain(domain).await).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(cp.domain(domain).await["certificate"]["status"], "valid");

    // The agent verifies the gateway's DTLS certificate against Pebble's root and the
    // name (no pin), then serves both HTTP versions.
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start_verified(&pod_a, domain, local, &key, &pebble.root);
    agent.wait_connected(Duration::from_secs(20));
    let (code, text) = curl(&pod_a, &pebble.root, domain, "/echo", false);
    assert_eq!(code, 0, "{text}");
    assert!(text.ends_with("200 1.1"), "{text}");
    let (code, text) = curl(&pod_a, &pebble.root, domain, "/echo", true);
    assert_eq!(code, 0, "{text}");
    assert!(text.ends_with("200 2"), "{text}");

    // A stranger's CA doesn't verify the same pod.
    let (code, text) = curl(&pod_a, &pebble.ca, domain, "/", false);
    assert_ne!(code, 0, "verified against the wrong root: {text}");
}

/// The serial number of the certificate `pod` serves for `domain` (via openssl s_client).
fn served_serial(pod: &DataPlane, domain: &str) -> Option<String> {
    let connect = format!("127.0.0.1:{}", pod.https.port());
    let shown = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {connect} -servername {domain} </dev/null 2>/dev/null \
             | openssl x509 -noout -serial"
        ))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&shown.stdout).trim().to_owned();
    text.strip_prefix("serial=").map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let http = hopgate_test_support::unused_port();
    let pebble = Pebble::start(http);
    let root = std::fs::read(&pebble.root).unwrap();
    let mut env = pebble.control_plane_env(GATEWAY);
    // Renew whenever less than a century is left: every certificate is due at once, and
    // orders follow each other HOP_ACME_RETRY_MIN apart.
    env.push(("HOP_ACME_RENEW_BEFORE".into(), "36500d".into()));
    env.push(("HOP_ACME_RETRY_MIN".into(), "2s".into()));
    let cp = ControlPlane::start_with(&env);
    let pod = DataPlane::production(&cp, "pod-r", &format!("127.0.0.1:{http}"), &root);
    pod.wait_ready(Duration::from_secs(60)).await;
    let domain = "renew.example.test";
    cp.register(domain).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let first = loop {
        if let (0, _) = curl(&pod, &pebble.root, domain, "/", false)
            && let Some(serial) = served_serial(&pod, domain)
        {
            break serial;
        }
        assert!(tokio::time::Instant::now() < deadline, "no certificate");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The same process serves a newer certificate, which verifies too.
    loop {
        let serial = served_serial(&pod, domain);
        if serial.as_ref().is_some_and(|s| *s != first) {
            let (code, text) = curl(&pod, &pebble.root, domain, "/", true);
            assert_eq!(code, 0, "{text}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still serving {first} (now {serial:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswerable_challenge_fails_with_the_reason_and_is_retried() {
    // Pebble validates on a port where no pod listens yet.
    let http = hopgate_test_support::unused_port();
    let pebble = Pebble::start(http);
    let root = std::fs::read(&pebble.root).unwrap();
    let cp = ControlPlane::start_with(&pebble.control_plane_env(GATEWAY));
    let pod_a = DataPlane::production(&cp, "pod-a", "127.0.0.1:0", &root);
    let domain = "late.example.test";
    cp.register(domain).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let failed = loop {
        let view = cp.domain(domain).await;
        if view["certificate"]["status"] == "failed" {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never failed: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let why = failed["certificate"]["error"].to_string();
    assert!(why.contains("connection"), "Pebble's reason: {why}");
    // Nothing else broke: the pod is alive (not ready: no gateway certificate yet).
    let health = reqwest::get(format!("http://{}/healthz", pod_a.metrics)).await;
    assert_eq!(health.unwrap().status(), 200);
    let ready = reqwest::get(format!("http://{}/readyz", pod_a.metrics)).await;
    assert_eq!(ready.unwrap().status(), 503);

    // A pod starts answering on that port: the retry succeeds and both pods serve.
    let pod_b = DataPlane::production(&cp, "pod-b", &format!("127.0.0.1:{http}"), &root);
    pod_a.wait_ready(Duration::from_secs(60)).await;
    loop {
        let (code, text) = curl(&pod_a, &pebble.root, domain, "/", false);
        if code == 0 {
            assert!(text.ends_with("502 1.1"), "{text}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never retried: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(curl(&pod_b, &pebble.root, domain, "/", false).0, 0);
}
