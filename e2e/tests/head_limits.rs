//! Header fields are limited by the head's size (64 KiB as the tunnel carries it), never
//! by their number, both ways and over HTTP/1.1 and HTTP/2; a head over the limit gets
//! the gateway's 431 (request) or 502 (response) page; HTTP/2 `cookie` fields reach an
//! HTTP/1.1 service as one line. Real data-plane and agent processes (and a control-plane
//! for the cross-pod case), and a real local service (Python's http.server,
//! `services/head_echo.py`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hopgate_e2e::{head_service::HeadService, raw_visitor, two_pods::TwoPods, *};

const DOMAIN: &str = "app.hopgate.test";

/// The gateway, the agent and the service, ready.
struct Setup {
    dp: DataPlane,
    _service: HeadService,
    agent: Agent,
}

impl Drop for Setup {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("agent said:\n{}", self.agent.said());
        }
    }
}

fn start() -> Setup {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let with_port = format!("{DOMAIN}:{}", dp.https.port());
    let service = HeadService::start(&[DOMAIN, &with_port]);
    let agent = Agent::start(&dp, DOMAIN, service.addr);
    agent.wait_connected(Duration::from_secs(10));
    Setup {
        dp,
        _service: service,
        agent,
    }
}

/// `count` fields `x-field-I: I`.
fn fields(count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|i| (format!("x-field-{i}"), i.to_string()))
        .collect()
}

/// A GET over HTTP/1.1 written byte for byte, with `fields`: the status and the whole
/// answer, head included (no client library limits the fields it reads).
async fn h1_get(dp: &DataPlane, path: &str, fields: &[(String, String)]) -> (u16, String) {
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: {DOMAIN}\r\n");
    for (name, value) in fields {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("connection: close\r\n\r\n");
    raw_visitor::h1(dp.https, Some(DOMAIN), &request).await
}

/// An HTTP/2 client (prior knowledge on TLS: it offers only `h2`) that reads header
/// blocks as large as browsers do (hyper's own default is 16 KiB).
fn h2_client(dp: &DataPlane) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&dp.cert_pem).unwrap())
        .resolve(DOMAIN, dp.https)
        .http2_prior_knowledge()
        .http2_max_header_list_size(256 * 1024)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A GET over HTTP/2 with `fields`: the response's status, headers and body.
async fn h2_get(
    dp: &DataPlane,
    path: &str,
    fields: &[(String, String)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = h2_client(dp).get(format!("https://{DOMAIN}:{}{path}", dp.https.port()));
    for (name, value) in fields {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// The `x-field-*` lines of an echo or an answer, sorted: the gateway keeps the order of
/// fields with the same name, not across names (its header maps are keyed by name).
fn field_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|line| line.to_ascii_lowercase().starts_with("x-field-"))
        .map(|line| line.trim_end().to_ascii_lowercase())
        .collect();
    lines.sort();
    lines
}

fn expected_lines(count: usize) -> Vec<String> {
    let mut lines: Vec<String> = fields(count)
        .into_iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    lines.sort();
    lines
}

/// Whether `got` holds exactly the `count` fields sent (kept short when it doesn't).
fn assert_all_fields(got: &[String], count: usize) {
    let expected = expected_lines(count);
    let missing: Vec<&String> = expected.iter().filter(|l| !got.contains(l)).collect();
    assert!(
        got.len() == count && missing.is_empty(),
        "{} fields arrived; first missing: {:?}",
        got.len(),
        missing.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_request_fields_reach_the_service_over_both_versions() {
    let setup = start();
    let dp = &setup.dp;
    let sent = fields(500);
    let (status, answer) = h1_get(dp, "/echo", &sent).await;
    assert_eq!(status, 200, "{answer}");
    assert_all_fields(&field_lines(&answer), 500);

    let (status, _, seen) = h2_get(dp, "/echo", &sent).await;
    assert_eq!(status, 200, "{seen}");
    assert_all_fields(&field_lines(&seen), 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_response_fields_reach_the_visitor_over_both_versions() {
    let setup = start();
    let dp = &setup.dp;
    let (status, answer) = h1_get(dp, "/fields/500", &[]).await;
    assert_eq!(status, 200, "{answer}");
    assert_all_fields(&field_lines(&answer), 500);

    let (status, headers, body) = h2_get(dp, "/fields/500", &[]).await;
    assert_eq!(status, 200, "{body}");
    let mut received: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-field-"))
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
        .collect();
    received.sort();
    assert_all_fields(&received, 500);
}

/// Through the cross-pod relay (a visitor on the pod without the session) the fields
/// pass both ways as well: the relay's HTTP/1.1 client and server count size, not fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_fields_pass_both_ways_through_the_cross_pod_relay() {
    let service = HeadService::start(&[]);
    let pods =
        TwoPods::start_in_front_of(DOMAIN, service.addr, &["--host-header", "rewrite"]).await;
    let relaying = &pods.b;
    let request = |path: &str, fields: &[(String, String)]| {
        let mut request = format!("GET {path} HTTP/1.1\r\nhost: {DOMAIN}\r\n");
        for (name, value) in fields {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request + "connection: close\r\n\r\n"
    };
    let (status, answer) =
        raw_visitor::h1(relaying.https, Some(DOMAIN), &request("/fields/500", &[])).await;
    assert_eq!(status, 200, "{answer}");
    assert_all_fields(&field_lines(&answer), 500);

    let (status, echoed) = raw_visitor::h1(
        relaying.https,
        Some(DOMAIN),
        &request("/echo", &fields(500)),
    )
    .await;
    assert_eq!(status, 200, "{echoed}");
    assert_all_fields(&field_lines(&echoed), 500);
    assert!(relaying.metric("hopgate_relayed_requests_total").await >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_over_the_limit_gets_the_431_page() {
    let setup = start();
    let dp = &setup.dp;
    let huge = vec![("x-huge".to_owned(), "h".repeat(70 * 1024))];
    let (status, answer) = h1_get(dp, "/echo", &huge).await;
    assert_eq!(status, 431, "{answer}");
    assert!(
        answer.contains("<h1>431 Request Header Fields Too Large</h1>")
            && answer.contains("larger than this gateway carries (64 KiB)"),
        "{answer}"
    );

    let (status, _, page) = h2_get(dp, "/echo", &huge).await;
    assert_eq!(status, 431, "{page}");
    assert!(page.contains("larger than this gateway carries"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_head_over_the_limit_gets_the_502_page() {
    let setup = start();
    let dp = &setup.dp;
    let path = format!("/big/{}", 70 * 1024);
    let (status, answer) = h1_get(dp, &path, &[]).await;
    assert_eq!(status, 502, "{answer}");
    assert!(
        answer.contains("<h1>502 Bad Gateway</h1>")
            && answer.contains("larger than the gateway carries"),
        "{answer}"
    );

    let (status, _, page) = h2_get(dp, &path, &[]).await;
    assert_eq!(status, 502, "{page}");
    assert!(page.contains("larger than the gateway carries"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_cookie_fields_reach_an_http1_service_as_one_line() {
    let setup = start();
    let dp = &setup.dp;
    let (status, seen) = raw_visitor::h2(
        dp.https,
        Some(DOMAIN),
        DOMAIN,
        "/echo",
        &[("cookie", "a=1"), ("cookie", "b=2; c=3"), ("cookie", "d=4")],
    )
    .await;
    assert_eq!(status, 200, "{seen}");
    let cookies: Vec<&str> = seen
        .lines()
        .filter_map(|line| line.strip_prefix("cookie: "))
        .collect();
    assert_eq!(cookies, ["a=1; b=2; c=3; d=4"], "{seen}");
}

/// The most tiny distinct fields that fit the head (`xNNNN:` with no value, 20 bytes each
/// once encoded) pass; many more, in the most an HTTP/1.1 head may hold, are a 431 page
/// that costs the pod little time and memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_tiny_fields_is_bounded_by_size() {
    let setup = start();
    let dp = &setup.dp;
    let tiny = |count: usize| -> Vec<(String, String)> {
        (0..count)
            .map(|i| (format!("x{i:04}"), String::new()))
            .collect()
    };
    let (status, answer) = h1_get(dp, "/echo", &tiny(3000)).await;
    assert_eq!(status, 200, "{}", &answer[..answer.len().min(500)]);
    let echoed = answer
        .lines()
        .filter(|line| line.starts_with('x') && !line.starts_with("x-"))
        .count();
    assert_eq!(echoed, 3000);

    let rss_before = dp.peak_rss_mib();
    // About 115 KiB: within what HTTP/1.1's parser reads (128 KiB).
    let flood = (0..13_000)
        .map(|i| (format!("x{i:x}"), String::new()))
        .collect::<Vec<_>>();
    let started = Instant::now();
    for _ in 0..20 {
        let (status, answer) = h1_get(dp, "/echo", &flood).await;
        assert_eq!(status, 431);
        assert!(answer.contains("larger than this gateway carries"));
    }
    let took = started.elapsed();
    let grew = dp.peak_rss_mib() - rss_before;
    println!("20 heads of 13,000 fields: {took:?}, peak RSS +{grew:.1} MiB");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(grew < 64.0, "peak RSS grew {grew:.1} MiB");
    assert_eq!(dp.status_of(DOMAIN, "/echo").await, 200);
}
