//! The agent's request inspector behind the real data-plane and agent processes and a local
//! service that remembers what reached it: exchanges read back from the JSON API (secrets
//! masked, truncation and binary markers, failures with their error, eviction at the
//! bounds), replays that reach the local service again (as captured, and edited), and an
//! inspector address already taken that leaves the tunnel working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hopgate_e2e::{inspector::Inspector, recording_service::RecordingService, *};
use hopgate_test_support::ClosedPort;
use serde_json::{Value, json};

const DOMAIN: &str = "app.hopgate.test";
const STEP: Duration = Duration::from_secs(10);

struct Bench {
    dp: DataPlane,
    agent: Agent,
    inspector: Inspector,
    visitor: reqwest::Client,
}

impl Bench {
    /// A pod, and an agent in front of `target` with the inspector on and `args`.
    fn start(target: std::net::SocketAddr, args: &[&str]) -> Self {
        let dp = DataPlane::start(&[DOMAIN], &[]);
        let mut all = Agent::INSPECT_ON_ANY_PORT.to_vec();
        all.extend_from_slice(args);
        let agent = Agent::start_with_args(&dp, DOMAIN, target, &all);
        agent.wait_connected(STEP);
        let inspector = Inspector::of(&agent, STEP);
        let visitor = dp.visitor(&[DOMAIN]);
        Self {
            dp,
            agent,
            inspector,
            visitor,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{DOMAIN}:{}{path}", self.dp.https.port())
    }

    async fn get(&self, path: &str) -> u16 {
        let response = self.visitor.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        response.bytes().await.unwrap();
        status
    }
}

fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0].as_str().unwrap().eq_ignore_ascii_case(name))
        .map(|pair| pair[1].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchanges_are_shown_masked_and_marked_and_replay_reaches_the_service_again() {
    let service = RecordingService::start();
    let bench = Bench::start(service.addr, &["--inspect-body-prefix-bytes", "1024"]);
    let inspector = &bench.inspector;

    let sent = bench
        .visitor
        .post(bench.url("/submit?x=1"))
        .header("authorization", "Bearer visitor-token")
        .header("cookie", "sid=visitor-cookie")
        .body("hello inspector")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    assert_eq!(bench.get("/binary/3000").await, 200);

    // Secrets masked unless asked for; the bodies as sent and answered.
    let submit = inspector.wait_for_path("/submit?x=1", STEP).await;
    let id = submit["id"].as_u64().unwrap();
    assert_eq!(
        (submit["method"].as_str(), submit["status"].as_u64()),
        (Some("POST"), Some(200))
    );
    let (_, detail) = inspector.get(&format!("/api/exchanges/{id}")).await;
    assert_eq!(
        header(&detail["request_headers"], "authorization"),
        Some("***")
    );
    assert_eq!(header(&detail["request_headers"], "cookie"), Some("***"));
    assert_eq!(
        header(&detail["response_headers"], "set-cookie"),
        Some("***")
    );
    assert_eq!(detail["request_body"]["text"], "hello inspector");
    assert_eq!(detail["request_body"]["truncated_bytes"], 0);
    assert_eq!(detail["response_body"]["text"], "ok POST /submit?x=1");
    let (_, shown) = inspector
        .get(&format!("/api/exchanges/{id}?secrets=1"))
        .await;
    assert_eq!(
        header(&shown["request_headers"], "authorization"),
        Some("Bearer visitor-token")
    );
    assert_eq!(
        header(&shown["response_headers"], "set-cookie"),
        Some("session=response-secret")
    );

    // A binary answer longer than the prefix: binary, its size, what was not kept.
    let binary = inspector.wait_for_path("/binary/3000", STEP).await;
    let (_, detail) = inspector
        .get(&format!("/api/exchanges/{}", binary["id"]))
        .await;
    let body = &detail["response_body"];
    assert_eq!(body["binary"], true, "{body}");
    assert!(body.get("text").is_none(), "{body}");
    assert_eq!(
        (body["size"].as_u64(), body["kept"].as_u64()),
        (Some(3000), Some(1024))
    );
    assert_eq!(body["truncated_bytes"], 1976);

    // Replayed as captured: the service gets it again, secrets included.
    let (status, replayed) = inspector.replay(id, &json!({})).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["replay_of"], id);
    assert_eq!(replayed["status"], 200);
    let got = service.received_for("/submit?x=1");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].body, b"hello inspector");
    assert_eq!(got[1].header("authorization"), Some("Bearer visitor-token"));
    assert_eq!(got[1].header("host"), got[0].header("host"));
    assert!(inspector.list().await.iter().any(|e| e["replay_of"] == id));

    // Replayed with edits; a masked value stands for the captured one.
    let edits = json!({
        "method": "PUT",
        "path": "/edited?y=2",
        "headers": [["x-edit", "yes"], ["authorization", "***"]],
        "body": "changed",
    });
    let (status, replayed) = inspector.replay(id, &edits).await;
    assert_eq!(status, 200, "{replayed}");
    let got = service.received_for("/edited?y=2");
    assert_eq!(got.len(), 1, "{:?}", service.received());
    assert_eq!(got[0].method, "PUT");
    assert_eq!(got[0].body, b"changed");
    assert_eq!(got[0].header("x-edit"), Some("yes"));
    assert_eq!(got[0].header("authorization"), Some("Bearer visitor-token"));
    assert_eq!(
        got[0].header("cookie"),
        None,
        "the edited headers replace the captured"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_not_kept_whole_is_replayed_only_with_an_edited_body() {
    let service = RecordingService::start();
    let bench = Bench::start(service.addr, &["--inspect-body-prefix-bytes", "1024"]);
    let sent = bench
        .visitor
        .post(bench.url("/upload"))
        .body(vec![b'u'; 5000])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let upload = bench.inspector.wait_for_path("/upload", STEP).await;
    let id = upload["id"].as_u64().unwrap();
    let (_, detail) = bench.inspector.get(&format!("/api/exchanges/{id}")).await;
    assert_eq!(detail["request_body"]["truncated_bytes"], 5000 - 1024);
    assert_eq!(detail["request_body"]["size"], 5000);

    let (status, refused) = bench.inspector.replay(id, &json!({})).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "body_truncated");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("3976 bytes not kept"),
        "{refused}"
    );
    assert_eq!(
        service.received_for("/upload").len(),
        1,
        "a refused replay sends nothing"
    );

    let (status, replayed) = bench
        .inspector
        .replay(id, &json!({ "body": "short" }))
        .await;
    assert_eq!(status, 200, "{replayed}");
    let got = service.received_for("/upload");
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].body, b"short");
    assert_eq!(got[1].header("content-length"), Some("5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_are_evicted_at_the_count_and_the_byte_budget() {
    let service = RecordingService::start();
    let bench = Bench::start(
        service.addr,
        &[
            "--inspect-max-exchanges",
            "5",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    for i in 0..8 {
        assert_eq!(bench.get(&format!("/n/{i}")).await, 200);
    }
    bench.inspector.wait_for_path("/n/7", STEP).await;
    let paths: Vec<_> = bench
        .inspector
        .list()
        .await
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, ["/n/7", "/n/6", "/n/5", "/n/4", "/n/3"]);
    let metrics = reqwest::get(format!("http://{}/metrics", bench.agent.metrics_addr(STEP)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("hopgate_agent_inspector_captured_total 8"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hopgate_agent_inspector_evicted_total 3"),
        "{metrics}"
    );

    // A budget of 64 KiB holds only a few answers of 12 KB each.
    let service = RecordingService::start();
    let bench = Bench::start(service.addr, &["--inspect-budget-bytes", "65536"]);
    for i in 0..12 {
        assert_eq!(bench.get(&format!("/text/{}", 12_000 + i)).await, 200);
    }
    bench.inspector.wait_for_path("/text/12011", STEP).await;
    let kept = bench.inspector.list().await;
    assert!((3..=5).contains(&kept.len()), "{} kept", kept.len());
    assert_eq!(kept[0]["path"], "/text/12011", "the newest stay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_is_captured_with_its_error() {
    let closed = ClosedPort::new();
    let bench = Bench::start(closed.addr(), &[]);
    assert_eq!(bench.get("/down").await, 502);
    let down = bench.inspector.wait_for_path("/down", STEP).await;
    assert_eq!(down["status"], Value::Null);
    let error = down["error"].as_str().unwrap();
    assert!(error.contains("connection refused"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inspector_address_in_use_is_said_and_the_tunnel_works_on() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dp = DataPlane::start(&[DOMAIN], &[]);
    let service = RecordingService::start();
    let agent = Agent::start_with_args(
        &dp,
        DOMAIN,
        service.addr,
        &["--inspect", "on", "--inspect-addr", &addr],
    );
    agent.wait_connected(STEP);
    let said = agent.output.wait_for("the inspector's failure", STEP, |l| {
        l.starts_with("inspector:")
    });
    assert!(said.contains(&format!("cannot listen on {addr}")), "{said}");
    assert_eq!(dp.status_of(DOMAIN, "/still-works").await, 200);
    assert_eq!(service.received_for("/still-works").len(), 1);
}
