//! Random garbage at every listener of a control-plane at once — the admin API, the
//! internal listener (table stream, pod reports) and the metrics listener: random bytes,
//! truncated TLS records, truncated and oversized heads, stalled, silent and slowloris
//! connections, and pod reports of random bytes with the right token. The garbage gets
//! only errors and closes, a well-behaved admin call is served within 1 s throughout, and
//! afterwards the process is alive, its memory did not balloon, its descriptors are back
//! near where they were, and a pod still gets its table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{ControlPlane, Database, INTERNAL_TOKEN};
use hopgate_test_support::{
    Prober, ProcStats,
    garbage::{self, tcp::TcpGarbage, tcp::tcp_dial},
    is_alive, wait_for_fds_at_most,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_at_every_listener_gets_errors_while_the_admin_api_serves() {
    let seed = garbage::seed();
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let api = cp.api();
    api.register("a.example.com").await;
    let pid = cp.pid();

    let before = ProcStats::of(pid);
    // A new connection for every call, as a new operator session would make.
    let admin = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let list = format!("http://{}/api/v1/admin/domains", cp.admin);
    let prober = Prober::start(Duration::from_millis(100), Duration::from_secs(5), {
        move || {
            let request = admin.get(&list).bearer_auth(common::ADMIN_KEY);
            async move {
                let response = request.send().await.map_err(|e| e.to_string())?;
                let status = response.status();
                response.bytes().await.map_err(|e| e.to_string())?;
                match status {
                    StatusCode::OK => Ok(()),
                    other => Err(format!("status {other}")),
                }
            }
        }
    });
    let internal = cp.internal_url();
    let (admin_report, internal_report, metrics_report, reports) = tokio::join!(
        TcpGarbage::new("admin", tcp_dial(cp.admin)).run(seed),
        TcpGarbage::new("internal", tcp_dial(cp.internal)).run(seed ^ 1),
        TcpGarbage::new("metrics", tcp_dial(cp.metrics)).run(seed ^ 2),
        garbage_pod_reports(&internal, seed ^ 3),
    );
    let probes = prober.stop().await;

    for report in [&admin_report, &internal_report, &metrics_report] {
        report.assert_withstood();
    }
    let not_refused: Vec<_> = reports.iter().filter(|s| !s.is_client_error()).collect();
    assert!(
        not_refused.is_empty(),
        "pod reports of random bytes got {not_refused:?}"
    );
    probes.assert_served_within(Duration::from_secs(1), 20);

    assert!(is_alive(pid), "the control-plane died: {}", cp.log_text());
    let after = ProcStats::of(pid);
    assert!(
        after.rss_kib < before.rss_kib + 64 * 1024,
        "RSS grew from {} KiB to {} KiB",
        before.rss_kib,
        after.rss_kib
    );
    let fds = wait_for_fds_at_most(pid, before.fds + 16, Duration::from_secs(10)).await;
    assert!(
        fds <= before.fds + 16,
        "descriptors: {} before the attack, still {fds} after",
        before.fds
    );
    // A pod still gets its table.
    let response = reqwest::Client::new()
        .get(format!("{}/internal/v1/table?pod=p1", cp.internal_url()))
        .bearer_auth(INTERNAL_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// 100 pod reports whose bodies are random bytes, with the right token; their statuses.
async fn garbage_pod_reports(internal: &str, seed: u64) -> Vec<StatusCode> {
    let mut rng = StdRng::seed_from_u64(seed);
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..100 {
        let mut body = vec![0u8; rng.random_range(0..=2_048)];
        rng.fill(&mut body[..]);
        let content_type = ["application/json", "application/msgpack", "text/plain"][i % 3];
        let response = client
            .post(format!("{internal}/internal/v1/pods/pod-{i}/sessions"))
            .bearer_auth(INTERNAL_TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await;
        if let Ok(response) = response {
            statuses.push(response.status());
        }
    }
    statuses
}
