//! The database going away under a running control-plane (Postgres: connections refused
//! and existing ones terminated), and an unreachable database at start.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{ControlPlane, Database, command};
use reqwest::StatusCode;
use serde_json::json;

const REGISTER: &str = "/api/v1/admin/domains/register";

async fn readyz(cp: &ControlPlane) -> StatusCode {
    reqwest::get(format!("http://{}/readyz", cp.metrics))
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_gives_503_writes_nothing_and_recovers() {
    let db = Database::postgres().await;
    let cp = ControlPlane::start(&db, &[]);
    let api = cp.api();
    api.register("before.example.com").await;
    assert_eq!(readyz(&cp).await, StatusCode::OK);

    db.pg_admin("ALTER DATABASE {db} ALLOW_CONNECTIONS false")
        .await;
    db.pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")
        .await;

    let (status, body) = api
        .post(REGISTER, json!({"domain": "during.example.com"}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.starts_with("database unavailable: "), "{error}");
    let (status, _) = api.get("/api/v1/admin/domains").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_ne!(readyz(&cp).await, StatusCode::OK);

    db.pg_admin("ALTER DATABASE {db} ALLOW_CONNECTIONS true")
        .await;
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        (status, _) = api
            .post(REGISTER, json!({"domain": "after.example.com"}))
            .await;
        if status != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, StatusCode::CREATED, "works again without a restart");
    assert_eq!(readyz(&cp).await, StatusCode::OK);

    let (_, body) = api.get("/api/v1/admin/domains").await;
    let names: Vec<&str> = body["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["after.example.com", "before.example.com"]);
    assert_eq!(
        db.version_and_changes().await,
        (2, 2),
        "nothing half-written"
    );
    assert!(cp.log_text().contains("\"process\":\"control-plane\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_at_start_is_a_clear_error() {
    // Nothing listens there for as long as the test holds it.
    let port = hopgate_test_support::ClosedPort::new();
    let closed = port.addr();
    let env = [
        ("HOP_ADMIN_API_KEY", common::ADMIN_KEY),
        ("HOP_INTERNAL_TOKEN", common::INTERNAL_TOKEN),
        ("HOP_ADMIN_LISTEN", "127.0.0.1:0"),
        ("HOP_INTERNAL_LISTEN", "127.0.0.1:0"),
        ("HOP_DB_ACQUIRE_TIMEOUT", "2s"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let mut env = env.to_vec();
    env.push((
        "HOP_DB_DSN".into(),
        format!("postgres://postgres:hunter2-secret@{closed}/x"),
    ));
    let output = command(&env).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot open the postgres database"),
        "{stderr}"
    );
    assert!(stderr.contains("database unavailable"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stderr.contains("hunter2") && !stdout.contains("hunter2"),
        "DSN password leaked"
    );
}
