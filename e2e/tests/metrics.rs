//! Every process's `/metrics` after a scripted run with real processes: a control-plane
//! (embedded SQLite), a pod subscribed to it, a local service, an agent with its metrics
//! listener, an agent with a wrong key, and a visitor asking for an unknown domain. Each
//! metric the operators' dashboard relies on must be there with a value that reflects the
//! run. Also: one request is followed by its `request_id` through the pod's and the
//! agent's JSON logs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use hopgate_e2e::*;

const DOMAIN: &str = "metrics.gw.hopgate.test";
/// Successful GETs the script makes.
const GETS: usize = 20;
/// Bytes of the one upload.
const UPLOAD: usize = 100_000;

async fn scrape(addr: SocketAddr) -> String {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The value of the sample `series` (name and labels exactly as exposed).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

fn has_family(text: &str, name: &str, kind: &str) {
    assert!(
        text.lines().any(|l| l == format!("# TYPE {name} {kind}")),
        "no {kind} family {name} in\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_exposes_what_the_run_did() {
    let cp = ControlPlane::start();
    let dp = DataPlane::subscribed(&cp, "pod-metrics", Arc::new(TempDir::new("dp")));
    dp.wait_ready(Duration::from_secs(10)).await;
    // Registered after the pod subscribed: a delta with a commit time reaches it.
    let key = cp.register(DOMAIN).await;
    let local = start_local_service("127.0.0.1:0".parse().unwrap());

    let _wrong = a_wrong_key_is_refused_for_good(&dp, local).await;
    let agent = Agent::start_with_metrics(&dp, DOMAIN, local, &key);
    agent.wait_connected(Duration::from_secs(10));
    let agent_metrics = agent.metrics_addr(Duration::from_secs(5));
    let ready = reqwest::get(format!("http://{agent_metrics}/readyz"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "every tunnel has a session");
    visit_upload_and_ask_for_an_unknown_domain(&dp).await;

    data_plane_metrics_reflect_the_run(&scrape(dp.metrics).await);
    control_plane_metrics_reflect_the_run(&cp, &dp).await;
    agent_metrics_reflect_the_run(&scrape(agent_metrics).await);
}

/// An agent with a wrong key: refused for good (it exits with 2).
async fn a_wrong_key_is_refused_for_good(dp: &DataPlane, local: SocketAddr) -> Agent {
    let mut wrong = Agent::start_with_key(dp, DOMAIN, local, "not-the-key");
    let status = wrong.exited_within(Duration::from_secs(10)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{}", wrong.said());
    wrong
}

/// The script's visitor traffic: [`GETS`] downloads, one upload of [`UPLOAD`] bytes, and
/// one request for a domain nobody registered.
async fn visit_upload_and_ask_for_an_unknown_domain(dp: &DataPlane) {
    let visitor = dp.visitor(&[DOMAIN, "nobody.gw.hopgate.test"]);
    let base = format!("https://{DOMAIN}:{}", dp.https.port());
    for _ in 0..GETS {
        let response = visitor
            .get(format!("{base}/bytes/1000"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.unwrap().len(), 1000);
    }
    let upload = visitor
        .post(format!("{base}/echo"))
        .body(vec![7u8; UPLOAD])
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200);
    let received = upload.headers().get("x-body-len").cloned();
    assert_eq!(received.unwrap(), UPLOAD.to_string().as_str());
    assert_eq!(
        dp.status_of("nobody.gw.hopgate.test", "/").await,
        404,
        "unknown domain"
    );
}

/// The pod's `/metrics` (`text`) after the script.
fn data_plane_metrics_reflect_the_run(text: &str) {
    let tunnel_get =
        "hopgate_requests_total{domain_class=\"tunnel\",method=\"GET\",status=\"200\"}";
    assert!(value(text, tunnel_get) >= GETS as f64);
    let unknown = "hopgate_requests_total{domain_class=\"unknown\",method=\"GET\",status=\"404\"}";
    assert_eq!(value(text, unknown), 1.0);
    assert!(value(text, "hopgate_request_duration_seconds_count") >= (GETS + 2) as f64);
    assert!(value(text, "hopgate_request_duration_seconds_sum") > 0.0);
    assert!(value(text, "hopgate_bytes_total{direction=\"in\"}") >= UPLOAD as f64);
    assert!(value(text, "hopgate_bytes_total{direction=\"out\"}") >= (GETS * 1000) as f64);
    assert!(value(text, "hopgate_dtls_handshakes_total{result=\"ok\"}") >= 1.0);
    assert_eq!(
        value(text, "hopgate_dtls_handshakes_total{result=\"bad_key\"}"),
        1.0
    );
    assert_eq!(value(text, "hopgate_agent_sessions"), 1.0);
    assert_eq!(value(text, "hopgate_requests_in_flight"), 0.0);
    assert!(value(text, "hopgate_dtls_associations") >= 1.0);
    assert!(value(text, "hopgate_transport_sessions{transport=\"udp\"}") >= 1.0);
    assert!(value(text, "hopgate_table_version") >= 1.0);
    assert_eq!(value(text, "hopgate_table_connected"), 1.0);
    assert!(value(text, "hopgate_table_propagation_seconds_count") >= 1.0);
    // A loopback push: well under a second.
    let lag = value(text, "hopgate_table_propagation_seconds_sum")
        / value(text, "hopgate_table_propagation_seconds_count");
    assert!(lag < 1.0, "propagation lag {lag} s");
    let gone = "hopgate_stream_resets_total{reason=\"visitor_gone\"}";
    assert_eq!(
        value(text, gone),
        0.0,
        "every visitor waited for its answer"
    );
    // One pod: nothing relayed.
    assert_eq!(value(text, "hopgate_relayed_requests_total"), 0.0);
    assert_eq!(value(text, "hopgate_relay_remote_domains"), 0.0);
    has_family(text, "hopgate_stream_resets", "counter");
    has_family(text, "hopgate_sessions_closed", "counter");
}

/// The control-plane's `/metrics` after the script, its table version the pod's.
async fn control_plane_metrics_reflect_the_run(cp: &ControlPlane, dp: &DataPlane) {
    let text = scrape(cp.metrics).await;
    let register = "hopgate_admin_requests_total{route=\"/api/v1/admin/domains/register\",method=\"POST\",status=\"201\"}";
    assert_eq!(value(&text, register), 1.0);
    assert_eq!(
        value(&text, "hopgate_table_version"),
        value(&scrape(dp.metrics).await, "hopgate_table_version"),
        "the pod serves the control-plane's version"
    );
    assert_eq!(value(&text, "hopgate_table_domains"), 1.0);
    assert_eq!(value(&text, "hopgate_table_subscribers"), 1.0);
    assert!(value(&text, "hopgate_db_pool_connections{state=\"max\"}") >= 1.0);
    assert!(value(&text, "hopgate_db_pool_connections{state=\"open\"}") >= 1.0);
    assert!(value(&text, "hopgate_db_connections") >= 1.0);
    has_family(&text, "hopgate_db_connections_idle", "gauge");
    has_family(&text, "hopgate_pods_reporting", "gauge");
    // ACME is off here: the families exist, nothing ordered (tests/acme.rs has them live).
    assert_eq!(
        value(&text, "hopgate_acme_orders_total{result=\"valid\"}"),
        0.0
    );
    // No certificates without ACME: the family has no series, so it isn't exposed.
    assert!(!text.contains("hopgate_certificate_expiry_seconds{"));
}

/// The agent's `/metrics` (`text`) after the script.
fn agent_metrics_reflect_the_run(text: &str) {
    let connected = format!("hopgate_agent_connected{{domain=\"{DOMAIN}\"}}");
    assert_eq!(value(text, &connected), 1.0);
    assert!(value(text, "hopgate_agent_requests_total{status=\"2xx\"}") >= (GETS + 1) as f64);
    assert!(value(text, "hopgate_agent_request_duration_seconds_count") >= (GETS + 1) as f64);
    assert!(value(text, "hopgate_agent_bytes_total{direction=\"in\"}") >= UPLOAD as f64);
    assert!(value(text, "hopgate_agent_bytes_total{direction=\"out\"}") >= (GETS * 1000) as f64);
    let lost = format!("hopgate_agent_reconnects_total{{domain=\"{DOMAIN}\",reason=\"lost\"}}");
    assert_eq!(value(text, &lost), 0.0, "one session throughout");
    let unreachable = "hopgate_agent_local_errors_total{reason=\"upstream_unreachable\"}";
    assert_eq!(value(text, unreachable), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_metrics_count_local_failures_and_readyz_follows_the_session() {
    let dp = DataPlane::start(&["fail.gw.hopgate.test"], &[]);
    // Nothing listens on the target: every request is a local-target error.
    let closed = hopgate_test_support::ClosedPort::new();
    let target = closed.addr();
    let mut agent = Agent::start_with_metrics(&dp, "fail.gw.hopgate.test", target, KEY);
    agent.wait_connected(Duration::from_secs(10));
    let addr = agent.metrics_addr(Duration::from_secs(5));
    assert_eq!(dp.status_of("fail.gw.hopgate.test", "/").await, 502);
    let text = scrape(addr).await;
    assert_eq!(
        value(
            &text,
            "hopgate_agent_local_errors_total{reason=\"upstream_unreachable\"}"
        ),
        1.0
    );
    assert_eq!(
        value(&text, "hopgate_agent_requests_total{status=\"error\"}"),
        1.0
    );
    let pod = scrape(dp.metrics).await;
    assert_eq!(
        value(
            &pod,
            "hopgate_stream_resets_total{reason=\"upstream_unreachable\"}"
        ),
        1.0
    );
    let healthz = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);

    // The failed request is followed by its id through the pod's and the agent's logs.
    let pod_line = dp
        .logs()
        .lines()
        .find(|l| l.contains("\"msg\":\"request failed\""))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no failed request in the pod's logs: {}", dp.logs()));
    let request_id = field(&pod_line, "request_id").expect("the pod logs the request id");
    let agent_logs = agent.logs.text();
    let agent_line = agent_logs
        .lines()
        .find(|l| l.contains(&format!("\"request_id\":\"{request_id}\"")))
        .unwrap_or_else(|| panic!("request {request_id} not in the agent's logs: {agent_logs}"));
    assert!(agent_line.contains("\"level\":\"WARN\""), "{agent_line}");
    assert!(
        agent_line.contains("\"domain\":\"fail.gw.hopgate.test\""),
        "{agent_line}"
    );
    assert!(!agent_logs.contains(KEY), "the API key is never logged");

    // The pod goes away: the agent's session is gone, so it isn't ready.
    let mut dp = dp;
    dp.kill();
    let readyz = format!("http://{addr}/readyz");
    poll_until(
        "the agent is not ready without a session",
        Duration::from_secs(20),
        || async { reqwest::get(&readyz).await.unwrap().status() == 503 },
    )
    .await;
    let text = scrape(addr).await;
    let down = "hopgate_agent_connected{domain=\"fail.gw.hopgate.test\"}";
    assert_eq!(value(&text, down), 0.0);
    agent.kill();
}
