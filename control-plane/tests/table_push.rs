//! The table push end to end: `hopgate-table-client`'s `Subscriber` against a real control-plane.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{ControlPlane, Database, INTERNAL_TOKEN, TempDir, wait_for};
use hopgate_table::{ChangeKind, DomainChange, Table};
use hopgate_table_client::{Subscriber, SubscriberConfig};
use serde_json::json;

type Seen = Arc<Mutex<Vec<DomainChange>>>;

fn subscribe(cp: &ControlPlane, pod: &str, state: &TempDir) -> (Subscriber, Seen) {
    let seen: Seen = Arc::default();
    let keep = seen.clone();
    let config = SubscriberConfig::new(&cp.internal_url(), INTERNAL_TOKEN, pod).state_dir(&state.0);
    let subscriber = Subscriber::start(config, move |_: &Table, changes: &[DomainChange]| {
        keep.lock().unwrap().extend_from_slice(changes);
    })
    .unwrap();
    (subscriber, seen)
}

fn has(subscriber: &Subscriber, domain: &str) -> bool {
    subscriber.table().get(domain).is_some()
}

async fn propagation(db: Database) {
    let cp = ControlPlane::start(&db, &[]);
    let api = cp.api();
    api.register("before.example.com").await;
    let (dir_a, dir_b) = (TempDir::new("pod-a"), TempDir::new("pod-b"));
    let (a, seen_a) = subscribe(&cp, "pod-a", &dir_a);
    let (b, _) = subscribe(&cp, "pod-b", &dir_b);
    for s in [&a, &b] {
        assert!(
            wait_for(Duration::from_secs(10), || s.is_loaded()).await,
            "{:?}",
            s.last_error()
        );
        assert!(has(s, "before.example.com"), "snapshot has the domain");
        assert!(s.is_connected());
    }

    // A registration reaches both pods in well under a second.
    let key = api.register("new.example.com").await;
    let answered = Instant::now();
    assert!(
        wait_for(Duration::from_secs(5), || has(&a, "new.example.com")
            && has(&b, "new.example.com"))
        .await
    );
    let elapsed = answered.elapsed();
    eprintln!(
        "{}: registration reached two pods in {elapsed:?}",
        db.kind()
    );
    assert!(
        elapsed < Duration::from_secs(1),
        "propagation took {elapsed:?}"
    );
    assert_eq!(a.table().verify_key("new.example.com", &key), Ok(()));

    // Rotation and removal arrive as session-dropping changes.
    let (_, body) = api
        .post(
            "/api/v1/admin/domains/new.example.com/rotate-key",
            json!({}),
        )
        .await;
    let new_key = body["client_api_key"].as_str().unwrap().to_owned();
    assert!(
        wait_for(Duration::from_secs(1), || a
            .table()
            .verify_key("new.example.com", &new_key)
            .is_ok())
        .await
    );
    assert!(
        a.table().verify_key("new.example.com", &key).is_err(),
        "old key refused"
    );
    api.post(
        "/api/v1/admin/domains/unregister",
        json!({"domain": "new.example.com"}),
    )
    .await;
    assert!(
        wait_for(Duration::from_secs(1), || !has(&a, "new.example.com")
            && !has(&b, "new.example.com"))
        .await
    );
    let kinds: Vec<(String, ChangeKind)> = seen_a
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.domain == "new.example.com")
        .map(|c| (c.domain.clone(), c.kind))
        .collect();
    let name = || "new.example.com".to_owned();
    assert_eq!(
        kinds,
        [
            (name(), ChangeKind::Added),
            (name(), ChangeKind::KeyChanged),
            (name(), ChangeKind::Removed)
        ]
    );
    assert_eq!(a.version(), b.version());
    assert_eq!(a.version(), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_subscribers_see_changes_within_a_second_sqlite() {
    propagation(Database::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_subscribers_see_changes_within_a_second_postgres() {
    propagation(Database::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_refused_and_surfaced() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let response = reqwest::Client::new()
        .get(format!("{}/internal/v1/table?pod=x", cp.internal_url()))
        .bearer_auth("wrong-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    let config = SubscriberConfig::new(&cp.internal_url(), "wrong-token-0123456789", "pod-x");
    let subscriber = Subscriber::start(config, |_, _| {}).unwrap();
    assert!(wait_for(Duration::from_secs(5), || subscriber.last_error().is_some()).await);
    let error = subscriber.last_error().unwrap();
    assert!(error.contains("401"), "{error}");
    assert!(!subscriber.is_loaded() && !subscriber.is_connected());
    assert!(!cp.log_text().contains("wrong-token-0123456789"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_versions_and_subscribers_reconnect_by_themselves() {
    let db = Database::sqlite();
    let mut cp = ControlPlane::start(&db, &[]);
    let state = TempDir::new("pod");
    let (subscriber, _) = subscribe(&cp, "pod-r", &state);
    cp.api().register("one.example.com").await;
    assert!(
        wait_for(Duration::from_secs(5), || has(
            &subscriber,
            "one.example.com"
        ))
        .await
    );
    let before = subscriber.since().unwrap();

    cp.kill();
    assert!(wait_for(Duration::from_secs(10), || !subscriber.is_connected()).await);
    assert!(
        has(&subscriber, "one.example.com"),
        "keeps serving while the control-plane is down"
    );
    cp.restart();
    assert!(
        wait_for(Duration::from_secs(15), || subscriber.is_connected()).await,
        "{:?}",
        subscriber.last_error()
    );
    assert_eq!(
        subscriber.since(),
        Some(before.clone()),
        "same epoch, same version"
    );

    cp.api().register("two.example.com").await;
    assert!(
        wait_for(Duration::from_secs(2), || has(
            &subscriber,
            "two.example.com"
        ))
        .await
    );
    let after = subscriber.since().unwrap();
    assert_eq!(after.epoch, before.epoch);
    assert_eq!(
        after.version,
        before.version + 1,
        "versions continue across restarts"
    );
    let logs = cp.log_text();
    assert!(
        logs.contains("\"snapshot\":false"),
        "the pod resumed with deltas, not a snapshot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_file_serves_while_the_control_plane_is_down() {
    let db = Database::sqlite();
    let mut cp = ControlPlane::start(&db, &[]);
    let state = TempDir::new("pod");
    let key = cp.api().register("kept.example.com").await;
    {
        let (subscriber, _) = subscribe(&cp, "pod-s", &state);
        assert!(
            wait_for(Duration::from_secs(5), || has(
                &subscriber,
                "kept.example.com"
            ))
            .await
        );
    }
    cp.kill();

    let (fresh, seen) = subscribe(&cp, "pod-s", &state);
    assert!(
        fresh.is_loaded(),
        "loaded from the file before any connection"
    );
    assert_eq!(fresh.table().verify_key("kept.example.com", &key), Ok(()));
    assert_eq!(
        seen.lock().unwrap()[0].kind,
        ChangeKind::Added,
        "callback saw the file's table"
    );
    assert!(wait_for(Duration::from_secs(5), || fresh.last_error().is_some()).await);
    assert!(fresh.is_loaded() && !fresh.is_connected());
}
