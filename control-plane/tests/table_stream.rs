//! The internal listener at the HTTP level: frames of the table stream (resume, heartbeats,
//! bad parameters) and the pods' session reports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{ControlPlane, Database, INTERNAL_TOKEN};
use hopgate_table::{Decoder, SessionReport, TableMessage};
use hopgate_table_client::report_sessions;
use reqwest::StatusCode;

/// Reads the table stream at `query` and returns its frames until `stop` says enough.
async fn frames(
    cp: &ControlPlane,
    query: &str,
    mut stop: impl FnMut(&[TableMessage]) -> bool,
) -> Vec<TableMessage> {
    let mut response = reqwest::Client::new()
        .get(format!("{}/internal/v1/table?{query}", cp.internal_url()))
        .bearer_auth(INTERNAL_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        hopgate_table::TABLE_CONTENT_TYPE
    );
    let decoder = Decoder::default();
    let mut received = BytesMut::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stop(&out) {
        assert!(Instant::now() < deadline, "stream stalled after {out:?}");
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        received.extend_from_slice(&chunk);
        while let Some(message) = decoder.decode(&mut received).unwrap() {
            out.push(message);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_sends_only_the_missed_deltas_then_heartbeats() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let api = cp.api();
    api.register("a.example.com").await;

    let first = frames(&cp, "pod=p1", |f| !f.is_empty()).await;
    let TableMessage::Snapshot(snapshot) = &first[0] else {
        panic!("expected a snapshot first: {first:?}")
    };
    assert_eq!(snapshot.version, 1);
    assert_eq!(snapshot.domains.len(), 1);
    let epoch = snapshot.epoch.clone();

    api.register("b.example.com").await;
    api.register("c.example.com").await;
    let resumed = frames(&cp, &format!("pod=p1&since={epoch}:1"), |f| {
        f.iter()
            .any(|m| matches!(m, TableMessage::Heartbeat { .. }))
    })
    .await;
    let versions: Vec<String> = resumed
        .iter()
        .map(|m| match m {
            TableMessage::Delta(d) => format!("delta {}", d.version),
            TableMessage::Heartbeat { version } => format!("heartbeat {version}"),
            TableMessage::Snapshot(s) => format!("snapshot {}", s.version),
            TableMessage::Placement(p) => format!("placement {p:?}"),
        })
        .collect();
    assert_eq!(versions, ["delta 2", "delta 3", "heartbeat 3"]);

    // Another epoch, or a version from the future: a fresh snapshot.
    for since in ["0123abcd:1".to_owned(), format!("{epoch}:99")] {
        let got = frames(&cp, &format!("pod=p1&since={since}"), |f| !f.is_empty()).await;
        assert!(
            matches!(&got[0], TableMessage::Snapshot(s) if s.version == 3 && s.domains.len() == 3),
            "{since}: {got:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_400() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let client = reqwest::Client::new();
    for query in ["since=nonsense", "since=abc:x", "pod=a/b", "pod=a%20b"] {
        let response = client
            .get(format!("{}/internal/v1/table?{query}", cp.internal_url()))
            .bearer_auth(INTERNAL_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_reports_show_in_the_admin_api() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let api = cp.api();
    api.register("live.example.com").await;
    api.register("idle.example.com").await;
    let client = reqwest::Client::new();
    let url = cp.internal_url();
    let domains = SessionReport {
        domains: vec!["live.example.com".to_owned()],
        ..SessionReport::default()
    };
    report_sessions(&client, &url, INTERNAL_TOKEN, "pod-b", &domains)
        .await
        .unwrap();
    report_sessions(&client, &url, INTERNAL_TOKEN, "pod-a", &domains)
        .await
        .unwrap();
    let wrong = report_sessions(&client, &url, "wrong-token-0123456789", "pod-c", &domains).await;
    assert!(
        matches!(wrong, Err(hopgate_table_client::ReportError::Unauthorized)),
        "{wrong:?}"
    );
    // JSON reports are accepted too.
    let response = client
        .post(format!("{url}/internal/v1/pods/pod-c/sessions"))
        .bearer_auth(INTERNAL_TOKEN)
        .json(&serde_json::json!({"domains": ["idle.example.com"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    client
        .post(format!("{url}/internal/v1/pods/pod-c/sessions"))
        .bearer_auth(INTERNAL_TOKEN)
        .json(&serde_json::json!({"domains": []}))
        .send()
        .await
        .unwrap();

    let (_, live) = api.get("/api/v1/admin/domains/live.example.com").await;
    assert_eq!(live["connected"], true);
    assert_eq!(live["pods"], serde_json::json!(["pod-a", "pod-b"]));
    let (_, idle) = api.get("/api/v1/admin/domains/idle.example.com").await;
    assert_eq!(
        idle["connected"], false,
        "pod-c's newer report replaced the old one"
    );
}

/// Opens the table stream at `query`; the response to read frames from.
async fn open_stream(cp: &ControlPlane, query: &str) -> reqwest::Response {
    let response = reqwest::Client::new()
        .get(format!("{}/internal/v1/table?{query}", cp.internal_url()))
        .bearer_auth(INTERNAL_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
}

/// The next frame that is not a snapshot or heartbeat, within `limit`.
async fn next_placement(
    response: &mut reqwest::Response,
    received: &mut BytesMut,
    limit: Duration,
) -> Option<hopgate_table::Placement> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        while let Some(message) = Decoder::default().decode(received).unwrap() {
            if let TableMessage::Placement(placement) = message {
                return Some(placement);
            }
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk()).await;
        received.extend_from_slice(&chunk.ok()?.unwrap().unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placements_reach_pods_that_ask_and_only_them() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    cp.api().register("live.example.com").await;
    let client = reqwest::Client::new();
    let url = cp.internal_url();
    let mut asking = open_stream(&cp, "pod=pod-b&placement=1").await;
    let mut old = open_stream(&cp, "pod=pod-old").await;
    let (mut asking_received, mut old_received) = (BytesMut::new(), BytesMut::new());
    // First: the whole (empty) picture.
    let first = next_placement(&mut asking, &mut asking_received, Duration::from_secs(5))
        .await
        .expect("a placement after the snapshot");
    assert!(first.replace && first.pods.is_empty(), "{first:?}");

    let report = SessionReport {
        domains: vec!["live.example.com".to_owned()],
        relay_port: Some(8444),
        relay_tls: false,
        sessions: Vec::new(),
    };
    let sent = Instant::now();
    report_sessions(&client, &url, INTERNAL_TOKEN, "pod-a", &report)
        .await
        .unwrap();
    let change = next_placement(&mut asking, &mut asking_received, Duration::from_secs(2))
        .await
        .expect("the report's change pushed");
    assert!(
        sent.elapsed() < Duration::from_millis(500),
        "{:?}",
        sent.elapsed()
    );
    assert!(!change.replace);
    assert_eq!(change.pods.len(), 1);
    assert_eq!(change.pods[0].pod, "pod-a");
    assert_eq!(
        change.pods[0].relay_url.as_deref(),
        Some("http://127.0.0.1:8444"),
        "the relay URL is the report's source address and the port it states"
    );
    assert_eq!(change.pods[0].domains, ["live.example.com"]);

    // The pod's session ends: the pod is forgotten.
    let empty = SessionReport::default();
    report_sessions(&client, &url, INTERNAL_TOKEN, "pod-a", &empty)
        .await
        .unwrap();
    let gone = next_placement(&mut asking, &mut asking_received, Duration::from_secs(2))
        .await
        .expect("the removal pushed");
    assert_eq!(gone.pods.len(), 1);
    assert!(gone.pods[0].domains.is_empty(), "{gone:?}");

    // A pod that didn't ask (an older pod) never sees a placement frame, even across a
    // heartbeat.
    let none = next_placement(&mut old, &mut old_received, Duration::from_millis(2500)).await;
    assert_eq!(none, None);
}
