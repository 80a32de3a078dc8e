//! The agent's inspector listener under hostile input: a `Host` that DNS rebinding would
//! bring, replays a page on another site could make the browser send, bodies and heads
//! over the limits, no CORS header ever, connections over the cap closed at once, and
//! random garbage, silent connections and a slowloris while a well-behaved client keeps
//! being served and the tunnel keeps working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, time::Duration};

use hopgate_e2e::{inspector::Inspector, recording_service::RecordingService, *};
use hopgate_test_support::{
    Prober, ProcStats,
    garbage::{self, first_line, tcp::TcpGarbage, tcp::tcp_dial},
    is_alive,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DOMAIN: &str = "app.hopgate.test";
const STEP: Duration = Duration::from_secs(10);

/// Sends `request` on a fresh connection and reads until the server closes or 5 s pass.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn started(service: &RecordingService, args: &[&str]) -> (DataPlane, Agent, Inspector) {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let mut all = Agent::INSPECT_ON_ANY_PORT.to_vec();
    all.extend_from_slice(args);
    let agent = Agent::start_with_args(&dp, DOMAIN, service.addr, &all);
    agent.wait_connected(STEP);
    let inspector = Inspector::of(&agent, STEP);
    (dp, agent, inspector)
}

/// A pod, an agent (inspector and metrics on, request bodies up to 4 KiB) and one exchange
/// captured: the agent, the inspector, and the path to replay that exchange.
async fn with_one_exchange(service: &RecordingService) -> (DataPlane, Agent, Inspector, String) {
    let args = [
        "--metrics-listen",
        "127.0.0.1:0",
        "--inspect-max-request-bytes",
        "4096",
    ];
    let (dp, agent, inspector) = started(service, &args);
    assert_eq!(dp.status_of(DOMAIN, "/target").await, 200);
    let id = inspector.wait_for_path("/target", STEP).await["id"]
        .as_u64()
        .unwrap();
    (dp, agent, inspector, format!("/api/exchanges/{id}/replay"))
}

/// Asserts the agent counted `counts` refusals by reason.
async fn assert_refused(agent: &Agent, counts: &[(&str, u64)]) {
    let metrics = reqwest::get(format!("http://{}/metrics", agent.metrics_addr(STEP)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (reason, count) in counts {
        let line = format!("hopgate_agent_inspector_refused_total{{reason=\"{reason}\"}} {count}");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebound_host_and_cross_site_requests_are_refused_without_cors() {
    let service = RecordingService::start();
    let (_dp, agent, inspector, replay) = with_one_exchange(&service).await;
    let addr = inspector.addr;
    let host = format!("127.0.0.1:{}", addr.port());

    // DNS rebinding: the page's own name in Host.
    let rebound = raw(addr, b"GET /api/exchanges?secrets=1 HTTP/1.1\r\nHost: evil.example:4040\r\nConnection: close\r\n\r\n").await;
    assert!(
        rebound.starts_with("HTTP/1.1 421"),
        "{}",
        first_line(rebound.as_bytes())
    );
    assert!(
        !rebound.contains("/target"),
        "nothing leaks to a rebound name"
    );
    let no_host = raw(addr, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert!(
        no_host.starts_with("HTTP/1.1 4"),
        "{}",
        first_line(no_host.as_bytes())
    );

    // What a form on another site can send: not JSON, or from another origin.
    let form = format!(
        "POST {replay} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Origin: https://evil.example\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=b"
    );
    let answer = raw(addr, form.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 403"),
        "{}",
        first_line(answer.as_bytes())
    );
    let plain = format!(
        "POST {replay} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
         Connection: close\r\n\r\n{{}}"
    );
    let answer = raw(addr, plain.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 415"),
        "{}",
        first_line(answer.as_bytes())
    );
    let fetched = format!(
        "POST {replay} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Sec-Fetch-Site: cross-site\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    let answer = raw(addr, fetched.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 403"),
        "{}",
        first_line(answer.as_bytes())
    );
    assert_eq!(
        service.received_for("/target").len(),
        1,
        "no refused replay was sent"
    );

    // A preflight gets no CORS permission; neither does anything else.
    let preflight = format!(
        "OPTIONS {replay} HTTP/1.1\r\nHost: {host}\r\nOrigin: https://evil.example\r\n\
         Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"
    );
    let answer = raw(addr, preflight.as_bytes()).await;
    assert!(
        !answer.to_ascii_lowercase().contains("access-control-allow"),
        "{answer}"
    );
    let page = raw(
        addr,
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(
        page.starts_with("HTTP/1.1 200"),
        "{}",
        first_line(page.as_bytes())
    );
    assert!(!page.to_ascii_lowercase().contains("access-control-allow"));
    assert!(
        page.to_ascii_lowercase()
            .contains("content-security-policy: default-src 'none'")
    );

    // The form, the Sec-Fetch-Site one, the preflight: not JSON, or another site's.
    assert_refused(&agent, &[("host", 2), ("cross_site", 4)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_and_heads_over_the_limits_are_refused() {
    let service = RecordingService::start();
    let (_dp, agent, inspector, replay) = with_one_exchange(&service).await;
    let addr = inspector.addr;
    let host = format!("127.0.0.1:{}", addr.port());
    // A body over the limit, and a head over hyper's buffer.
    let big = format!(
        "POST {replay} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: 100000\r\nConnection: close\r\n\r\n{}",
        "x".repeat(100_000)
    );
    let answer = raw(addr, big.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "{}",
        first_line(answer.as_bytes())
    );
    let huge_head = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(64 * 1024)
    );
    let answer = raw(addr, huge_head.as_bytes()).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{}",
        first_line(answer.as_bytes())
    );

    assert_refused(&agent, &[("too_large", 1)]).await;
    assert_eq!(
        service.received_for("/target").len(),
        1,
        "nothing was replayed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_and_served_again_after() {
    let service = RecordingService::start();
    let (_dp, _agent, inspector) = started(&service, &["--inspect-max-connections", "2"]);
    let held: Vec<_> = futures_util::future::join_all(
        (0..2).map(|_| tokio::net::TcpStream::connect(inspector.addr)),
    )
    .await;
    // The third is closed at once, without an answer.
    let closed = raw(inspector.addr, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(closed, "", "over the cap");
    drop(held);
    poll_until("a connection is served again", STEP, || async {
        reqwest::get(inspector.url("/api/exchanges"))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_slow_clients_leave_the_inspector_serving_and_the_tunnel_working() {
    let seed = garbage::seed();
    let service = RecordingService::start();
    let (dp, agent, inspector) = started(&service, &["--inspect-max-connections", "64"]);
    let pid = agent.child.id();
    let before = ProcStats::of(pid);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let list = inspector.url("/api/exchanges");
    let prober = Prober::start(
        Duration::from_millis(100),
        Duration::from_secs(5),
        move || {
            let request = client.get(&list);
            async move {
                let response = request.send().await.map_err(|e| e.to_string())?;
                match response.status().as_u16() {
                    200 => response.bytes().await.map(drop).map_err(|e| e.to_string()),
                    other => Err(format!("status {other}")),
                }
            }
        },
    );
    let attack = TcpGarbage {
        concurrency: 16,
        silent: 20,
        slowloris: 10,
        ..TcpGarbage::new("inspector", tcp_dial(inspector.addr))
    };
    let report = attack.run(seed).await;
    let probes = prober.stop().await;
    report.assert_withstood();
    probes.assert_served_within(Duration::from_secs(1), 20);
    assert!(is_alive(pid), "the agent died");
    let after = ProcStats::of(pid);
    assert!(
        after.rss_kib < before.rss_kib + 32 * 1024,
        "RSS grew from {} KiB to {} KiB",
        before.rss_kib,
        after.rss_kib
    );
    assert_eq!(dp.status_of(DOMAIN, "/after").await, 200);
    inspector.wait_for_path("/after", STEP).await;
}
