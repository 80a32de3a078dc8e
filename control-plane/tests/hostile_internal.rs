//! A holder of the internal token attacks the pods' session reports: it reports another
//! pod's id from its own address, or names a relay host of its choosing in the body. The
//! control-plane ties a pod id to the address that first reported it and builds every
//! relay URL from the report's TCP source address, so neither moves a visitor's traffic.
//! Distinct loopback addresses (127.0.0.2, 127.0.0.3) stand for distinct pods.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{net::IpAddr, time::Duration};

use bytes::BytesMut;
use common::{ControlPlane, Database, INTERNAL_TOKEN};
use hopgate_table::{Decoder, PodSessions, TableMessage};
use reqwest::StatusCode;
use serde_json::{Value, json};

const REAL_POD: &str = "127.0.0.2";
const ATTACKER: &str = "127.0.0.3";

/// Posts `body` as `pod`'s session report from a socket bound to `source`.
async fn report_from(cp: &ControlPlane, source: &str, pod: &str, body: Value) -> StatusCode {
    let client = reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    client
        .post(format!(
            "{}/internal/v1/pods/{pod}/sessions",
            cp.internal_url()
        ))
        .bearer_auth(INTERNAL_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

/// The live pods as a new subscriber's first placement lists them.
async fn placement(cp: &ControlPlane) -> Vec<PodSessions> {
    let mut response = reqwest::Client::new()
        .get(format!(
            "{}/internal/v1/table?pod=observer&placement=1",
            cp.internal_url()
        ))
        .bearer_auth(INTERNAL_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let decoder = Decoder::default();
    let mut received = BytesMut::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        while let Some(message) = decoder.decode(&mut received).unwrap() {
            if let TableMessage::Placement(placement) = message {
                assert!(placement.replace, "the first placement lists every pod");
                return placement.pods;
            }
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("a placement frame within 5 s");
        received.extend_from_slice(&chunk.unwrap().expect("the stream stays open"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_pods_id_from_another_address_is_refused() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let real = json!({"domains": ["a.example.com"], "relay_port": 8444});
    assert_eq!(
        report_from(&cp, REAL_POD, "pod-a", real.clone()).await,
        StatusCode::NO_CONTENT
    );
    let hijack = json!({
        "domains": ["a.example.com", "b.example.com"],
        "relay_port": 9999,
        "relay_url": format!("http://{ATTACKER}:9999"),
    });
    assert_eq!(
        report_from(&cp, ATTACKER, "pod-a", hijack).await,
        StatusCode::CONFLICT,
        "a report for pod-a from another address"
    );
    // The real pod keeps its id (its periodic refresh still counts).
    assert_eq!(
        report_from(&cp, REAL_POD, "pod-a", real).await,
        StatusCode::NO_CONTENT
    );
    let pods = placement(&cp).await;
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert_eq!(pods[0].pod, "pod-a");
    assert_eq!(pods[0].domains, ["a.example.com"]);
    assert_eq!(
        pods[0].relay_url.as_deref(),
        Some(format!("http://{REAL_POD}:8444").as_str())
    );
    let metrics = cp.metrics_text().await;
    assert!(
        metrics.contains("hopgate_pod_reports_refused_total{reason=\"address_changed\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_cannot_choose_the_relay_host() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let chosen_host = json!({
        "domains": ["b.example.com"],
        "relay_url": "http://attacker.example:80",
        "relay_port": 8444,
    });
    assert_eq!(
        report_from(&cp, ATTACKER, "pod-x", chosen_host).await,
        StatusCode::NO_CONTENT
    );
    // An HTTPS relay: the scheme follows what the pod states, the host never does.
    let tls = json!({"domains": ["c.example.com"], "relay_port": 8445, "relay_tls": true});
    assert_eq!(
        report_from(&cp, REAL_POD, "pod-y", tls).await,
        StatusCode::NO_CONTENT
    );
    // A URL alone (an older pod's report) makes no relay target.
    let url_only = json!({"domains": ["d.example.com"], "relay_url": "http://10.0.0.9:8444"});
    assert_eq!(
        report_from(&cp, REAL_POD, "pod-z", url_only).await,
        StatusCode::NO_CONTENT
    );
    let pods = placement(&cp).await;
    let relay_of = |pod: &str| {
        pods.iter()
            .find(|p| p.pod == pod)
            .unwrap_or_else(|| panic!("{pod} in {pods:?}"))
            .relay_url
            .clone()
    };
    assert_eq!(relay_of("pod-x"), Some(format!("http://{ATTACKER}:8444")));
    assert_eq!(relay_of("pod-y"), Some(format!("https://{REAL_POD}:8445")));
    assert_eq!(relay_of("pod-z"), None);
    // Port 0 is no relay listener.
    let port_zero = json!({"domains": ["e.example.com"], "relay_port": 0});
    assert_eq!(
        report_from(&cp, REAL_POD, "pod-w", port_zero).await,
        StatusCode::BAD_REQUEST
    );
}
