//! Access policies through the admin API, against a real process on SQLite and on
//! Postgres: what is refused (and why), what is shown (users, never passwords), what is
//! stored (salted hashes only), and what the table carries to pods, including the pods
//! that don't enforce policies (they are not told about restricted domains at all).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{ADMIN_KEY, ControlPlane, Database, INTERNAL_TOKEN, TempDir, wait_for};
use hopgate_table::{
    Change, Decoder, Table, TableMessage,
    access::{Denial, basic},
};
use hopgate_table_client::{Subscriber, SubscriberConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DOMAIN: &str = "app.example.com";
const ACCESS: &str = "/api/v1/admin/domains/app.example.com/access";
const PASSWORD: &str = "correct-horse-battery";
const NEW_PASSWORD: &str = "staple-and-more-words";

fn subscribe(cp: &ControlPlane, state: &TempDir) -> Subscriber {
    let config =
        SubscriberConfig::new(&cp.internal_url(), INTERNAL_TOKEN, "pod-a").state_dir(&state.0);
    Subscriber::start(config, |_: &Table, _: &[_]| {}).unwrap()
}

/// The pod's verdict on `user`:`password` for [`DOMAIN`] (`None`: the table has no policy).
fn verdict(pod: &Subscriber, user: &str, password: &str) -> Option<Result<(), Denial>> {
    let table = pod.table();
    let policy = table.get(DOMAIN)?.access.clone()?;
    let header = basic::authorization(user, password);
    Some(policy.check("192.0.2.1".parse().unwrap(), Some(header.as_bytes())))
}

async fn put(cp: &ControlPlane, body: Value) -> (StatusCode, Value) {
    cp.api().call(Method::PUT, ACCESS, Some(body)).await
}

/// Before any policy: a domain is open, an unknown or malformed name is refused, and every
/// malformed policy is a 400 naming what is wrong.
async fn nothing_set_and_every_mistake_refused(cp: &ControlPlane) {
    let api = cp.api();
    // Nothing set: open. Unknown domains are 404, bad names 400.
    let (status, body) = api.get(ACCESS).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"domain": DOMAIN, "basic_auth": [], "allow_cidrs": [], "deny_cidrs": []})
    );
    for method in [Method::GET, Method::PUT] {
        let unknown = "/api/v1/admin/domains/nobody.example.com/access";
        let (status, body) = api.call(method.clone(), unknown, Some(json!({}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {body}");
        assert_eq!(body["code"], "not_found");
        let bad = "/api/v1/admin/domains/a_b.example.com/access";
        let (status, _) = api.call(method.clone(), bad, Some(json!({}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method}");
    }

    // Every mistake is a 400 naming the entry.
    let user =
        |user: &str, password: &str| json!({"basic_auth": [{"user": user, "password": password}]});
    for (body, says) in [
        (
            json!({"allow_cidrs": ["10.0.0.0/33"]}),
            "allow_cidrs[0]: '10.0.0.0/33' has a prefix length",
        ),
        (
            json!({"deny_cidrs": ["::1", "10.0.0.0/8 "]}),
            "deny_cidrs[1]",
        ),
        (
            json!({"deny_cidrs": ["fe80::1%eth0"]}),
            "is not an IP address",
        ),
        (user("", PASSWORD), "basic_auth[0]: user is empty"),
        (user("al:ice", PASSWORD), "may not contain ':'"),
        (user("alice", "short"), "shorter than 8 characters"),
        (user("alice", "tab\there-and-more"), "control characters"),
        (
            json!({"allow_cidrs": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]}),
            "allow_cidrs has 4 entries; at most 3 are allowed (HOP_ADMIN_ACCESS_MAX_ENTRIES)",
        ),
        (json!({"users": []}), "unknown field"),
        (
            json!({"basic_auth": [{"user": "alice"}]}),
            "missing field `password`",
        ),
    ] {
        let (status, answer) = put(cp, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    // Only a JSON object is a policy (serde alone would read `[null, null]` as one).
    for raw in ["[null, null]", "[]", "null", "\"open\""] {
        let response = api
            .client
            .put(format!("{}{ACCESS}", api.base))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{raw}");
    }
}

async fn scenario(db: &Database) {
    let cp = ControlPlane::start(db, &[("HOP_ADMIN_ACCESS_MAX_ENTRIES", "3")]);
    let api = cp.api();
    api.register(DOMAIN).await;
    let state = TempDir::new("pod");
    let pod = subscribe(&cp, &state);

    nothing_set_and_every_mistake_refused(&cp).await;
    assert!(
        pod.table().get(DOMAIN).unwrap().access.is_none(),
        "nothing was set"
    );

    // A policy: one user with two passwords (a change in progress), ranges normalized.
    let (status, shown) = put(
        &cp,
        json!({
            "basic_auth": [
                {"user": "alice", "password": PASSWORD},
                {"user": "alice", "password": NEW_PASSWORD},
            ],
            "allow_cidrs": ["10.1.2.3/8", "192.0.2.0/24"],
            "deny_cidrs": ["2001:DB8::/32"],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    let expected = json!({
        "domain": DOMAIN,
        "basic_auth": [{"user": "alice"}, {"user": "alice"}],
        "allow_cidrs": ["10.0.0.0/8", "192.0.2.0/24"],
        "deny_cidrs": ["2001:db8::/32"],
    });
    assert_eq!(shown, expected);
    let (_, got) = api.get(ACCESS).await;
    assert_eq!(got, expected);

    // The pods get it within a second; each password passes, nothing else does.
    let set = Instant::now();
    assert!(
        wait_for(Duration::from_secs(5), || verdict(&pod, "alice", PASSWORD)
            .is_some())
        .await
    );
    assert!(
        set.elapsed() < Duration::from_secs(1),
        "{:?}",
        set.elapsed()
    );
    assert_eq!(verdict(&pod, "alice", PASSWORD), Some(Ok(())));
    assert_eq!(verdict(&pod, "alice", NEW_PASSWORD), Some(Ok(())));
    assert_eq!(
        verdict(&pod, "alice", "wrong-password"),
        Some(Err(Denial::AuthWrong))
    );
    assert_eq!(verdict(&pod, "bob", PASSWORD), Some(Err(Denial::AuthWrong)));

    // Rotating the key keeps the policy.
    let (status, _) = api
        .post(
            "/api/v1/admin/domains/app.example.com/rotate-key",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, after_rotation) = api.get(ACCESS).await;
    assert_eq!(after_rotation, expected);

    // No password anywhere: not in the database (nor SQLite's files), not in the logs.
    let stored = db.everything_stored().await;
    assert!(stored.contains("\"alice\""), "the policy is stored");
    for secret in [PASSWORD, NEW_PASSWORD] {
        assert!(!stored.contains(secret), "{} stores a password", db.kind());
        assert!(!cp.log_text().contains(secret), "a password in the logs");
    }

    // `{}` clears it, everywhere.
    let (status, cleared) = put(&cp, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["basic_auth"], json!([]));
    assert!(
        wait_for(Duration::from_secs(5), || verdict(&pod, "alice", PASSWORD)
            .is_none())
        .await
    );
    let (_, got) = api.get(ACCESS).await;
    assert_eq!(got["allow_cidrs"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_on_sqlite() {
    scenario(&Database::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_on_postgres() {
    scenario(&Database::postgres().await).await;
}

/// The first frames of the table stream at `query`: up to and including the first frame
/// `last` accepts.
async fn frames_until(
    cp: &ControlPlane,
    query: &str,
    last: impl Fn(&TableMessage) -> bool,
) -> Vec<TableMessage> {
    let mut response = reqwest::Client::new()
        .get(format!("{}/internal/v1/table?{query}", cp.internal_url()))
        .bearer_auth(INTERNAL_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut received = BytesMut::new();
    let mut out = Vec::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("a frame within 10 s")
            .unwrap()
            .unwrap();
        received.extend_from_slice(&chunk);
        while let Some(message) = Decoder::default().decode(&mut received).unwrap() {
            let done = last(&message);
            out.push(message);
            if done {
                return out;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_that_dont_enforce_policies_are_not_told_about_restricted_domains() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let api = cp.api();
    api.register(DOMAIN).await;
    api.register("open.example.com").await;
    let (status, _) = put(&cp, json!({"deny_cidrs": ["10.0.0.0/8"]})).await;
    assert_eq!(status, StatusCode::OK);

    let snapshot = |query: &'static str| {
        let cp = &cp;
        async move {
            let first = frames_until(
                cp,
                query,
                |m| matches!(m, TableMessage::Snapshot(s) if !s.more),
            )
            .await;
            let Some(TableMessage::Snapshot(snapshot)) = first.into_iter().last() else {
                panic!("no snapshot")
            };
            snapshot
        }
    };
    let names = |s: &hopgate_table::Snapshot| -> Vec<String> {
        let mut names: Vec<String> = s.domains.iter().map(|r| r.domain.clone()).collect();
        names.sort();
        names
    };
    // A pod that enforces gets every domain, the policy, and the snapshot says so.
    let enforcing = snapshot("pod=new&access=1").await;
    assert_eq!(names(&enforcing), [DOMAIN, "open.example.com"]);
    assert!(enforcing.access_policies);
    let restricted = enforcing
        .domains
        .iter()
        .find(|r| r.domain == DOMAIN)
        .unwrap();
    assert_eq!(
        restricted.access.as_ref().unwrap().deny_cidrs[0].to_string(),
        "10.0.0.0/8"
    );
    // One that doesn't is not told about the restricted domain.
    let older = snapshot("pod=old").await;
    assert_eq!(names(&older), ["open.example.com"]);
    assert!(!older.access_policies);

    // Restricting a domain later removes it from such a pod's table; an enforcing pod
    // gets the domain with its policy.
    let (status, _) = cp
        .api()
        .call(
            Method::PUT,
            "/api/v1/admin/domains/open.example.com/access",
            Some(json!({"allow_cidrs": ["192.0.2.0/24"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let is_delta = |m: &TableMessage| matches!(m, TableMessage::Delta(_));
    let resume = |epoch: &str, version: u64, access: bool| {
        let access = if access { "&access=1" } else { "" };
        format!("pod=p&since={epoch}:{version}{access}")
    };
    let old_delta = frames_until(&cp, &resume(&older.epoch, older.version, false), is_delta).await;
    let Some(TableMessage::Delta(delta)) = old_delta.last() else {
        panic!("{old_delta:?}")
    };
    assert_eq!(
        delta.changes,
        [Change::Remove {
            domain: "open.example.com".into()
        }]
    );
    let new_delta = frames_until(
        &cp,
        &resume(&enforcing.epoch, enforcing.version, true),
        is_delta,
    )
    .await;
    let Some(TableMessage::Delta(delta)) = new_delta.last() else {
        panic!("{new_delta:?}")
    };
    let [Change::Upsert(record)] = &delta.changes[..] else {
        panic!("{delta:?}")
    };
    assert_eq!(record.domain, "open.example.com");
    assert_eq!(
        record.access.as_ref().unwrap().allow_cidrs[0].to_string(),
        "192.0.2.0/24"
    );
}
