//! The admin API against its own OpenAPI document, on a real control-plane (Postgres):
//! Schemathesis (pinned, installed by `scripts/schemathesis.sh`) generates valid and
//! invalid requests from the document, sends them, checks every answer against it
//! (statuses, bodies, valid data accepted, invalid data refused, undeclared methods, auth),
//! and must find nothing. Also: methods a route doesn't declare get 405 with `Allow`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{ADMIN_KEY, ControlPlane, Database, TempDir};
use reqwest::{Method, StatusCode};

/// Test cases per operation and phase: the whole run takes 10 to 20 s.
const MAX_EXAMPLES: &str = "50";

/// The `st` command, installed if it isn't yet.
fn schemathesis() -> String {
    hopgate_test_support::tool_from_script("schemathesis.sh")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing() {
    let st = schemathesis();
    let db = Database::postgres().await;
    let cp = ControlPlane::start(&db, &[]);
    let base = format!("http://{}", cp.admin);
    // Its own working directory: nothing written into the source tree.
    let work = TempDir::new("schemathesis");
    let output = Command::new(&st)
        .current_dir(&work.0)
        .args([
            "run",
            &format!("{base}/api/v1/openapi.json"),
            "--url",
            &base,
        ])
        .args(["--header", &format!("Authorization: Bearer {ADMIN_KEY}")])
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES])
        .args(["--generation-database", "none", "--workers", "2"])
        .args(["--report", "junit", "--report-junit-path", "junit.xml"])
        .args(["--no-color", "--warnings", "off"])
        .env("NO_COLOR", "1")
        .output()
        .expect("running schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    // It did test every operation of the document (but the document itself).
    let junit = std::fs::read_to_string(work.0.join("junit.xml")).unwrap();
    for operation in [
        "POST /api/v1/admin/domains/register",
        "POST /api/v1/admin/domains/unregister",
        "GET /api/v1/admin/domains",
        "GET /api/v1/admin/domains/{domain}",
        "POST /api/v1/admin/domains/{domain}/rotate-key",
        "GET /api/v1/admin/domains/{domain}/access",
        "PUT /api/v1/admin/domains/{domain}/access",
        "Stateful tests",
    ] {
        assert!(
            junit.contains(&format!("name=\"{operation}\"")),
            "{operation} not tested:\n{stdout}"
        );
    }
    assert!(
        junit.contains("errors=\"0\" failures=\"0\""),
        "{junit}\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_methods_get_405_with_allow() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let api = cp.api();
    for (method, path, allow) in [
        (Method::DELETE, "/api/v1/admin/domains", "GET"),
        (Method::POST, "/api/v1/admin/domains", "GET"),
        (Method::PUT, "/api/v1/admin/domains/app.example.com", "GET"),
        (Method::GET, "/api/v1/admin/domains/register", "POST"),
        (Method::PATCH, "/api/v1/admin/domains/unregister", "POST"),
        (
            Method::GET,
            "/api/v1/admin/domains/a.example.com/rotate-key",
            "POST",
        ),
        (Method::POST, "/api/v1/openapi.json", "GET"),
        (
            Method::DELETE,
            "/api/v1/admin/domains/a.example.com/access",
            "GET, PUT",
        ),
    ] {
        let response = api
            .client
            .request(method.clone(), format!("{}{path}", api.base))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let allowed = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(allowed.as_deref(), Some(allow), "{method} {path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "method_not_allowed", "{method} {path}");
    }
    // A path no route declares is still 404.
    let (status, body) = api.get("/api/v1/admin/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
