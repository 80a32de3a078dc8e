//! ACME failures and renewal against a real Pebble per test: a challenge that can't be
//! answered is reported with Pebble's reason and retried with backoff, other domains are
//! unaffected; a short renewal window replaces the certificate without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{
    Database,
    acme::{serial, setup, table_cert, verify, wait_status},
    field, wait_for,
};

#[tokio::test]
async fn failed_validation_is_reported_and_retried() {
    let db = Database::sqlite();
    let mut s = setup(&db, &[]).await;
    s.responder.stop();
    s.cp.api().register("down.hopgate.test").await;
    let cert = wait_status(&s, "down.hopgate.test", "failed", Duration::from_secs(30)).await;
    let error = cert["error"].as_str().unwrap();
    assert!(
        error.contains("urn:ietf:params:acme:error:connection"),
        "Pebble's reason: {error}"
    );

    // Back, but refusing one name: the others become valid, that one fails.
    s.responder
        .refused
        .lock()
        .unwrap()
        .insert("refused.hopgate.test".into());
    s.responder.restart();
    s.cp.api().register("refused.hopgate.test").await;
    s.cp.api().register("fine.hopgate.test").await;
    wait_status(&s, "fine.hopgate.test", "valid", Duration::from_secs(30)).await;
    wait_status(&s, "down.hopgate.test", "valid", Duration::from_secs(30)).await;
    let cert = wait_status(
        &s,
        "refused.hopgate.test",
        "failed",
        Duration::from_secs(30),
    )
    .await;
    let error = cert["error"].as_str().unwrap();
    assert!(error.contains("404"), "Pebble's reason: {error}");

    // Answered again: retried and issued without anyone asking.
    s.responder.refused.lock().unwrap().clear();
    wait_status(&s, "refused.hopgate.test", "valid", Duration::from_secs(30)).await;
    assert!(s.cp.log_text().contains("ACME order failed"));
}

#[tokio::test]
async fn short_renewal_window_pushes_a_new_certificate() {
    let db = Database::sqlite();
    // Longer than Pebble's certificate lifetime: every certificate is due at once, so it
    // is renewed every HOP_ACME_RETRY_MIN (the least time between two orders).
    let s = setup(
        &db,
        &[
            ("HOP_ACME_RENEW_BEFORE", "36500d"),
            ("HOP_ACME_RETRY_MIN", "2s"),
        ],
    )
    .await;
    s.cp.api().register("renew.hopgate.test").await;
    assert!(
        wait_for(Duration::from_secs(30), || table_cert(
            &s,
            "renew.hopgate.test"
        )
        .is_some())
        .await
    );
    let first = verify(
        &table_cert(&s, "renew.hopgate.test").unwrap(),
        &s.pebble.root,
        "renew.hopgate.test",
    );
    let renewed = wait_for(Duration::from_secs(30), || {
        table_cert(&s, "renew.hopgate.test").is_some_and(|c| serial(&c) != first)
    })
    .await;
    assert!(renewed, "{}", s.cp.log_text());
    verify(
        &table_cert(&s, "renew.hopgate.test").unwrap(),
        &s.pebble.root,
        "renew.hopgate.test",
    );
}

#[tokio::test]
async fn unregistering_cancels_the_order() {
    let db = Database::sqlite();
    let s = setup(&db, &[]).await;
    let api = s.cp.api();
    api.register("gone.hopgate.test").await;
    // Unregister while the name's order is under way.
    s.cp.log
        .wait_for_async("its order to start", Duration::from_secs(30), |l| {
            field(l, "msg").as_deref() == Some("ACME order started")
                && field(l, "domain").as_deref() == Some("gone.hopgate.test")
        })
        .await;
    let (status, body) = api
        .post(
            "/api/v1/admin/domains/unregister",
            serde_json::json!({"domain": "gone.hopgate.test"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The other name (the gateway's) still gets its certificate.
    assert!(
        wait_for(Duration::from_secs(30), || s
            .responder
            .subscriber
            .table()
            .gateway_certificate()
            .is_some())
        .await
    );
    // A certificate for the cancelled name would come about as fast: give it the time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let table = s.responder.subscriber.table();
    assert!(table.get("gone.hopgate.test").is_none());
    let snapshot = table.to_snapshot().unwrap();
    assert!(snapshot.challenges.is_empty(), "answers withdrawn");
    let logs = s.cp.log_text();
    assert!(logs.contains("ACME order cancelled"), "{logs}");
    let issued_for_gone = logs.lines().any(|l| {
        field(l, "msg").as_deref() == Some("certificate issued")
            && field(l, "domain").as_deref() == Some("gone.hopgate.test")
    });
    assert!(!issued_for_gone, "{logs}");
}
