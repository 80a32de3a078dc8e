//! One pod and the real agent, the whole path with real processes: visitor (reqwest) →
//! data-plane → DTLS → the real agent → a local service, and back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hopgate_e2e::*;
use hopgate_test_support::ClosedPort;
use sha2::{Digest, Sha256};

const DOMAIN: &str = "app.hopgate.test";

fn url(dp: &DataPlane, path: &str) -> String {
    format!("https://{DOMAIN}:{}{path}", dp.https.port())
}

/// Waits until a `/slow` request has reached the local service at `local`: it is in
/// flight through the pod and the agent.
async fn slow_in_flight(local: std::net::SocketAddr) {
    poll_until(
        "a /slow request in flight",
        Duration::from_secs(10),
        || async { slow_requests_started(local) >= 1 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_statuses_headers_and_bodies_pass_through() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start(&dp, DOMAIN, local);
    agent.wait_connected(Duration::from_secs(10));
    let visitor = dp.visitor(&[DOMAIN]);

    let response = visitor
        .get(url(&dp, "/echo?a=1&b=two"))
        .header("x-repeat", "one")
        .header("x-repeat", "two")
        .header("cookie", "session=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-method"], "GET");
    assert_eq!(response.headers()["x-query"], "a=1&b=two");
    let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    let seen = response.text().await.unwrap();
    assert!(
        seen.contains("x-repeat: one") && seen.contains("x-repeat: two"),
        "{seen}"
    );
    assert!(seen.contains("cookie: session=abc"), "{seen}");
    assert!(seen.contains("x-forwarded-for: 127.0.0.1"), "{seen}");
    assert!(seen.contains(&format!("host: {DOMAIN}")), "{seen}");

    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let body = vec![b'z'; 300_000];
        let response = visitor
            .request(method.parse().unwrap(), url(&dp, "/echo"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-method"], method);
        assert_eq!(response.headers()["x-body-len"], "300000");
        assert_eq!(
            response.headers()["x-body-sha256"],
            hex::encode(Sha256::digest(&body))
        );
    }
    // A chunked upload (no content-length).
    let pieces =
        futures_util::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(vec![1u8; 10_000])));
    let response = visitor
        .post(url(&dp, "/echo"))
        .body(reqwest::Body::wrap_stream(pieces))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-body-len"], "100000");

    let head = visitor.head(url(&dp, "/bytes/12345")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "12345");
    for code in [204u16, 304, 404, 500] {
        let response = visitor
            .get(url(&dp, &format!("/status/{code}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), code);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_each_way_streams_with_bounded_memory() {
    const GIB: u64 = 1024 * 1024 * 1024;
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start(&dp, DOMAIN, local);
    agent.wait_connected(Duration::from_secs(10));
    let visitor = dp.visitor(&[DOMAIN]);
    let visitor = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&dp.cert_pem).unwrap())
        .resolve(DOMAIN, dp.https)
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap_or(visitor);

    // Download: hash as it arrives.
    let response = visitor
        .get(url(&dp, &format!("/bytes/{GIB}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut offset = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert!(
            chunk
                .iter()
                .enumerate()
                .all(|(i, b)| *b == pattern(offset + i as u64)),
            "corrupt at {offset}"
        );
        offset += chunk.len() as u64;
    }
    assert_eq!(offset, GIB);

    // Upload, generated as it goes.
    let block = vec![0x5au8; 256 * 1024];
    let pieces = futures_util::stream::iter(
        (0..GIB / block.len() as u64).map(move |_| Ok::<_, std::io::Error>(block.clone())),
    );
    let response = visitor
        .put(url(&dp, "/echo"))
        .body(reqwest::Body::wrap_stream(pieces))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-body-len"], GIB.to_string());
    let mut expect = Sha256::new();
    let block = vec![0x5au8; 256 * 1024];
    for _ in 0..GIB / block.len() as u64 {
        expect.update(&block);
    }
    assert_eq!(
        response.headers()["x-body-sha256"],
        hex::encode(expect.finalize())
    );

    let (dp_rss, agent_rss) = (dp.peak_rss_mib(), agent.peak_rss_mib());
    assert!(dp_rss < 64.0, "data-plane peaked at {dp_rss:.1} MiB");
    assert!(agent_rss < 64.0, "agent peaked at {agent_rss:.1} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_agent_gives_502_fast_restart_serves_and_target_outage_is_reported() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let mut agent = Agent::start(&dp, DOMAIN, local);
    agent.wait_connected(Duration::from_secs(10));
    let visitor = dp.visitor(&[DOMAIN]);

    // Killed with SIGKILL in the middle of a request.
    let pending = tokio::spawn({
        let visitor = visitor.clone();
        let url = url(&dp, "/slow");
        async move { visitor.get(url).send().await.map(|r| r.status()) }
    });
    slow_in_flight(local).await;
    agent.kill();
    let killed = Instant::now();
    let status = pending.await.unwrap().unwrap();
    assert_eq!(status, 502);
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "502 after {:?}",
        killed.elapsed()
    );
    poll_until(
        "no session or request left after the agent died",
        Duration::from_secs(10),
        || async {
            dp.metric("hopgate_agent_sessions").await == 0
                && dp.metric("hopgate_requests_in_flight").await == 0
        },
    )
    .await;

    // Restarted: serving again within 2 s of its start.
    let restarted = Instant::now();
    let agent = Agent::start(&dp, DOMAIN, local);
    agent.wait_connected(Duration::from_secs(2));
    let response = visitor.get(url(&dp, "/echo")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        restarted.elapsed() < Duration::from_secs(2),
        "serving after {:?}",
        restarted.elapsed()
    );

    // The local service goes away: a clear 502; a service back on the same port: served
    // again with no agent restart.
    let down = ClosedPort::new();
    let down_target = down.addr();
    drop(agent);
    let agent = Agent::start(&dp, DOMAIN, down_target);
    agent.wait_connected(Duration::from_secs(10));
    let response = visitor
        .get(url(&dp, "/echo"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let body = response.text().await.unwrap();
    assert!(
        body.contains(&down_target.to_string()),
        "the page should say what was unreachable: {body}"
    );
    // Listening from here on: the agent's next connection is accepted.
    serve_local(down.open());
    let response = visitor.get(url(&dp, "/echo")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_agent_takes_the_domain_and_the_first_stops_instead_of_flapping() {
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let mut first = Agent::start(&dp, DOMAIN, local);
    first.wait_connected(Duration::from_secs(10));
    let mut second = Agent::start(&dp, DOMAIN, local);
    second.wait_connected(Duration::from_secs(10));

    // The first agent is told it was replaced and exits, saying why.
    let status = first.exited_within(Duration::from_secs(5)).await;
    let status = status.expect("the replaced agent kept running");
    assert_eq!(status.code(), Some(1));
    first
        .output
        .wait_for_async("why it stopped", Duration::from_secs(5), |line| {
            line.contains("another agent connected")
        })
        .await;

    // The second keeps the domain: still connected and serving a while later (a flapping
    // pair would have reconnected by now). Nothing to wait for: the time is the point.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(second.child.try_wait().unwrap().is_none());
    let response = dp.visitor(&[DOMAIN]).get(url(&dp, "/echo")).send().await;
    assert_eq!(response.unwrap().status(), 200);
    assert_eq!(dp.metric("hopgate_agent_sessions").await, 1);
    let connects = second.output.count(|l| l.starts_with("connected"));
    assert_eq!(connects, 1, "{}", second.said());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_request_in_flight_tells_the_agent_and_exits() {
    let mut dp = DataPlane::start(&[DOMAIN], &[("HOP_SERVER_DRAIN_TIMEOUT", "20s")]);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start(&dp, DOMAIN, local);
    agent.wait_connected(Duration::from_secs(10));
    // A go-away within a second of connecting is retried with backoff (so a gateway that
    // keeps saying it is not hammered): the session must have been up longer than that.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let visitor = dp.visitor(&[DOMAIN]);

    // A request that takes 10 s is in flight when the pod is told to stop.
    let pending = tokio::spawn({
        let visitor = visitor.clone();
        let url = url(&dp, "/slow");
        async move {
            let response = visitor.get(url).send().await?;
            let status = response.status();
            response.text().await.map(|body| (status, body))
        }
    });
    slow_in_flight(local).await;
    let sent = Instant::now();
    dp.terminate();

    // At once: not ready any more, and the agent is told to go away (it tries again and
    // is refused while this pod drains).
    let readyz = format!("http://{}/readyz", dp.metrics);
    poll_until("/readyz says 503", Duration::from_secs(1), || async {
        reqwest::get(&readyz).await.is_ok_and(|r| r.status() == 503)
    })
    .await;
    agent
        .output
        .wait_for_async("go-away", Duration::from_secs(5), |line| {
            line.contains("gateway is going away")
        })
        .await;

    // The request in flight completes; then the pod exits cleanly, well before the
    // drain deadline.
    let (status, body) = pending.await.unwrap().unwrap();
    assert_eq!((status.as_u16(), body.as_str()), (200, "finally"));
    let exit = dp.wait_exit(Duration::from_secs(15));
    assert_eq!(exit.and_then(|s| s.code()), Some(0), "{}", dp.logs());
    assert!(sent.elapsed() < Duration::from_secs(15));
    assert!(dp.logs().contains("\"msg\":\"draining\""), "{}", dp.logs());
}

/// Holds what the TLS layer writes until `send_now`, so several TLS records reach the
/// gateway in one TCP segment (the pod reads ahead: it must still answer each of them).
#[derive(Debug)]
struct Batched {
    tcp: std::net::TcpStream,
    batching: bool,
    held: Vec<u8>,
}

impl Batched {
    fn send_now(&mut self) {
        use std::io::Write;
        self.tcp.write_all(&self.held).unwrap();
        self.held.clear();
        self.batching = false;
    }
}

impl std::io::Read for Batched {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl std::io::Write for Batched {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.batching {
            self.held.extend_from_slice(buf);
            return Ok(buf.len());
        }
        self.tcp.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_in_one_segment_are_all_answered_in_order() {
    use std::io::{Read, Write};
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let local = start_local_service("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start(&dp, DOMAIN, local);
    agent.wait_connected(Duration::from_secs(10));
    let cert = openssl::x509::X509::from_pem(&dp.cert_pem).unwrap();
    let https = dp.https;
    let answer = tokio::task::spawn_blocking(move || {
        let mut builder =
            openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
        builder.cert_store_mut().add_cert(cert).unwrap();
        let tcp = std::net::TcpStream::connect(https).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let io = Batched {
            tcp,
            batching: false,
            held: Vec::new(),
        };
        let mut tls = builder.build().connect(DOMAIN, io).unwrap();
        tls.get_mut().batching = true;
        // Three requests, three TLS records, one TCP write.
        for (i, last) in [(1, false), (2, false), (3, true)] {
            let close = if last { "Connection: close\r\n" } else { "" };
            let request = format!("GET /echo?n={i} HTTP/1.1\r\nHost: {DOMAIN}\r\n{close}\r\n");
            tls.write_all(request.as_bytes()).unwrap();
        }
        tls.get_mut().send_now();
        let mut answer = Vec::new();
        tls.read_to_end(&mut answer).unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    let statuses = answer.matches("HTTP/1.1 200 OK").count();
    assert_eq!(statuses, 3, "{answer}");
    let queries: Vec<usize> = ["n=1", "n=2", "n=3"]
        .iter()
        .map(|q| answer.find(&format!("x-query: {q}")).expect(q))
        .collect();
    assert!(queries.is_sorted(), "answers out of order: {answer}");
}
