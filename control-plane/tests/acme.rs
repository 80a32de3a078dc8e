//! ACME end to end against a real Pebble per test (`scripts/pebble.sh`, validation on,
//! 5% badNonce rejection on): a real control-plane process orders certificates, HTTP-01
//! answers travel in the table to a test responder (standing in for a data-plane pod),
//! and the certificates that reach the table verify against Pebble's root. Failures and
//! renewal are in `acme_retry.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{
    ControlPlane, Database,
    acme::{GATEWAY, setup, table_cert, verify, wait_status},
    wait_for,
};
use serde_json::{Value, json};

async fn issues_certificates(db: Database) {
    let s = setup(&db, &[]).await;
    let (status, body) =
        s.cp.api()
            .post(
                "/api/v1/admin/domains/register",
                json!({"domain": "app.hopgate.test"}),
            )
            .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["certificate"]["status"], "pending", "answers at once");

    assert!(
        wait_for(Duration::from_secs(30), || table_cert(
            &s,
            "app.hopgate.test"
        )
        .is_some()
            && s.responder
                .subscriber
                .table()
                .gateway_certificate()
                .is_some())
        .await,
        "{}",
        s.cp.log_text()
    );
    let cert = table_cert(&s, "app.hopgate.test").unwrap();
    let serial = verify(&cert, &s.pebble.root, "app.hopgate.test");
    let gateway = s
        .responder
        .subscriber
        .table()
        .gateway_certificate()
        .cloned();
    verify(&gateway.unwrap(), &s.pebble.root, GATEWAY);
    let shown = wait_status(&s, "app.hopgate.test", "valid", Duration::from_secs(5)).await;
    assert!(
        shown["not_after"].as_str().unwrap().ends_with('Z'),
        "{shown}"
    );
    assert_eq!(shown["error"], Value::Null);
    assert!(
        wait_for(Duration::from_secs(5), || s
            .responder
            .subscriber
            .table()
            .challenge("x")
            .is_none())
        .await
    );

    // Rotating the key keeps the certificate.
    let (_, _) =
        s.cp.api()
            .post(
                "/api/v1/admin/domains/app.hopgate.test/rotate-key",
                json!({}),
            )
            .await;
    // Nothing marks "no new certificate": give a wrong one a moment to show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(table_cert(&s, "app.hopgate.test").as_ref(), Some(&cert));

    let metrics = s.cp.metrics_text().await;
    assert!(
        metrics.contains("hopgate_acme_orders_total{result=\"valid\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "hopgate_certificate_expiry_seconds{{domain=\"app.hopgate.test\",kind=\"domain\"}} {}",
            cert.not_after_unix
        )),
        "{metrics}"
    );
    assert!(metrics.contains("domain=\"gw.hopgate.test\",kind=\"gateway\""));

    // Private keys never reach the logs.
    let logs = s.cp.log_text();
    assert!(!logs.contains("PRIVATE KEY"));
    assert!(!logs.contains(cert.key_pem.lines().nth(1).unwrap()));

    // A restart reuses the account and keeps the certificates (no new order).
    let mut s = s;
    s.cp.restart();
    s.cp.log
        .wait_for_async("the account reused", Duration::from_secs(10), |line| {
            line.contains(r#""created":false"#)
        })
        .await;
    let serial_after = verify(
        &table_cert(&s, "app.hopgate.test").unwrap(),
        &s.pebble.root,
        "app.hopgate.test",
    );
    assert_eq!(serial, serial_after);
    let mut conn = db.connect().await;
    let accounts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM acme_accounts")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
}

#[tokio::test]
async fn register_issues_a_certificate_sqlite() {
    issues_certificates(Database::sqlite()).await;
}

#[tokio::test]
async fn register_issues_a_certificate_postgres() {
    issues_certificates(Database::postgres().await).await;
}

#[tokio::test]
async fn ten_registrations_survive_bad_nonces() {
    let db = Database::sqlite();
    let s = setup(&db, &[]).await;
    let api = s.cp.api();
    let names: Vec<String> = (0..10).map(|i| format!("n{i}.hopgate.test")).collect();
    for name in &names {
        api.register(name).await;
    }
    for name in &names {
        wait_status(&s, name, "valid", Duration::from_secs(90)).await;
        verify(&table_cert(&s, name).unwrap(), &s.pebble.root, name);
    }
    // instant-acme retries a badNonce once itself (it matches the full URN). Pebble
    // rejects 5% of nonces: with at least 60 signed requests, the chance that none was
    // rejected is under 5% (a run makes ~80). A request whose retry is rejected too
    // (0.25% each) fails its order, which the control-plane orders again (every name
    // above got its certificate); no order may fail for any other reason.
    let log = s.pebble.log();
    assert!(log.contains("Configured to reject 5% of good nonces"));
    let posts = log.matches("POST /").count();
    assert!(posts >= 60, "only {posts} signed requests");
    let cp_log = s.cp.log_text();
    let failures: Vec<&str> = cp_log
        .lines()
        .filter(|line| line.contains("\"ACME order failed\""))
        .collect();
    assert!(
        failures
            .iter()
            .all(|line| line.contains("acme:error:badNonce")),
        "{failures:#?}"
    );
    let metrics = s.cp.metrics_text().await;
    let failed = format!(
        "hopgate_acme_orders_total{{result=\"failed\"}} {}",
        failures.len()
    );
    assert!(metrics.contains(&failed), "{failed}\n{metrics}");
}

#[tokio::test]
async fn acme_off_says_so_and_nothing_breaks() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[("HOP_SERVER_DOMAIN", GATEWAY)]);
    let (status, body) = cp
        .api()
        .post(
            "/api/v1/admin/domains/register",
            json!({"domain": "plain.hopgate.test"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(body["certificate"]["status"], "disabled");
    let (_, body) = cp.api().get("/api/v1/admin/domains").await;
    assert_eq!(body["domains"][0]["certificate"]["status"], "disabled");
    assert!(cp.log_text().contains("ACME is off"));
    let metrics = cp.metrics_text().await;
    // The family is there (dashboards find it), with nothing ordered.
    assert!(metrics.contains("hopgate_acme_orders_total{result=\"valid\"} 0"));
    assert!(!metrics.contains("hopgate_certificate_expiry_seconds{"));
}
