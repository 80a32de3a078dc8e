//! The admin API end to end, against a real process: the same scenario on SQLite (the
//! embedded default) and on Postgres; the IP allowlist; the OpenAPI document; wrong keys
//! that never reach the write path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{ADMIN_KEY, Api, ControlPlane, Database, INTERNAL_TOKEN};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Connection;

const REGISTER: &str = "/api/v1/admin/domains/register";
const UNREGISTER: &str = "/api/v1/admin/domains/unregister";

fn is_key(value: &Value) -> bool {
    value.as_str().is_some_and(|k| {
        k.len() == 64
            && k.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"))
}

/// The admin API's life of two domains: register, refusals, list and get, rotate, what is
/// stored, unregister by the domain's key and by the admin key, and logs without secrets.
async fn scenario(db: &Database) {
    let cp = ControlPlane::start(db, &[]);
    let api = cp.api();
    let first_key = register_normalizes_the_name_and_returns_a_key(&api).await;
    refuse_bad_registrations(&api).await;
    refuse_wrong_bearers(&api).await;
    list_and_get_domains(&api).await;
    let new_key = rotate_gives_a_different_key(&api, &first_key).await;
    only_the_keys_hash_is_stored(db, &first_key, &new_key).await;
    unregister_with_the_domains_own_key(&api, &first_key, &new_key).await;
    unregister_with_the_admin_key_alone(&api).await;
    assert_eq!(
        db.version_and_changes().await,
        (5, 5),
        "register x2, rotate, unregister x2"
    );
    // No key or token ever appears in a log line.
    let logs = cp.log_text();
    assert!(logs.contains("domain registered"));
    for secret in [ADMIN_KEY, INTERNAL_TOKEN, &first_key, &new_key] {
        assert!(!logs.contains(secret), "a secret was logged");
    }
}

/// Register: 201 and a 64-hex key; the name is normalized. Returns the key.
async fn register_normalizes_the_name_and_returns_a_key(api: &Api) -> String {
    let (status, body) = api
        .post(
            REGISTER,
            json!({"domain": "App.Example.COM", "memo": "first"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["domain"], "app.example.com");
    assert!(is_key(&body["client_api_key"]), "{body}");
    body["client_api_key"].as_str().unwrap().to_owned()
}

/// Duplicate → 409; bad names → 400 naming the problem; bad JSON, unknown fields,
/// oversized bodies and control characters → 400 with a JSON error.
async fn refuse_bad_registrations(api: &Api) {
    let (status, body) = api
        .post(REGISTER, json!({"domain": "app.example.com."}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for (domain, why) in [
        ("*.example.com", "wildcard"),
        ("nodot", "two labels"),
        ("a_b.example.com", "characters"),
    ] {
        let (status, body) = api.post(REGISTER, json!({"domain": domain})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{domain}: {body}");
        assert!(error_of(&body).contains(why), "{domain}: {body}");
    }

    for raw in [
        "{\"domain\":",
        "[]",
        "{\"domain\":\"x.example.com\",\"extra\":1}",
    ] {
        let (status, body) = api.post_raw(REGISTER, raw).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{raw}: {body}");
        assert!(error_of(&body).contains("JSON"), "{body}");
    }
    let huge = format!(
        "{{\"domain\":\"a.example.com\",\"memo\":\"{}\"}}",
        "m".repeat(100_000)
    );
    let (status, body) = api.post_raw(REGISTER, huge).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Postgres can't store NUL: a memo with a control character is refused, not a 500.
    for memo in ["a\u{0}b", "line\nbreak", "\u{85}"] {
        let (status, body) = api
            .post(REGISTER, json!({"domain": "c.example.com", "memo": memo}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{memo:?}: {body}");
        assert!(error_of(&body).contains("control characters"), "{body}");
    }
}

/// Wrong or missing bearer → 401.
async fn refuse_wrong_bearers(api: &Api) {
    for key in ["wrong-key-0123456789abcdef", INTERNAL_TOKEN, ""] {
        let (status, body) = api
            .with_key(key)
            .post(REGISTER, json!({"domain": "b.example.com"}))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key}: {body}");
        let (status, _) = api.with_key(key).get("/api/v1/admin/domains").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

/// Registers a second domain; the list has both in order, and one is got by any case.
async fn list_and_get_domains(api: &Api) {
    api.register("second.example.com").await;
    let (status, body) = api.get("/api/v1/admin/domains").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app.example.com", "second.example.com"]);
    let (status, body) = api.get("/api/v1/admin/domains/APP.example.com").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["memo"], "first");
    assert_eq!(body["connected"], false);
    assert_eq!(body["pods"], json!([]));
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    let (status, _) = api.get("/api/v1/admin/domains/unknown.example.com").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Rotate: a different key (returned); an unknown domain is 404.
async fn rotate_gives_a_different_key(api: &Api, first_key: &str) -> String {
    let (status, body) = api
        .post(
            "/api/v1/admin/domains/app.example.com/rotate-key",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new_key = body["client_api_key"].as_str().unwrap().to_owned();
    assert!(is_key(&body["client_api_key"]) && new_key != first_key);
    let (status, _) = api
        .post(
            "/api/v1/admin/domains/nope.example.com/rotate-key",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    new_key
}

/// Everything stored: the key's hash, never the key.
async fn only_the_keys_hash_is_stored(db: &Database, first_key: &str, new_key: &str) {
    let stored = db.everything_stored().await;
    assert!(stored.contains(&hex::encode(Sha256::digest(new_key.as_bytes()))));
    for key in [first_key, new_key] {
        assert!(
            !stored.contains(key),
            "plaintext key in the {} database",
            db.kind()
        );
    }
}

/// Unregister with the domain's own key (no admin bearer): the old key after a rotation,
/// a wrong key or none → 401; the current key → 200, and the domain is gone.
async fn unregister_with_the_domains_own_key(api: &Api, first_key: &str, new_key: &str) {
    let anonymous = api.with_key("");
    for wrong in [first_key, &"0".repeat(64)] {
        let (status, body) = anonymous
            .post(
                UNREGISTER,
                json!({"domain": "app.example.com", "client_api_key": wrong}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let (status, _) = anonymous
        .post(UNREGISTER, json!({"domain": "app.example.com"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no key at all");
    let (status, body) = anonymous
        .post(
            UNREGISTER,
            json!({"domain": "app.example.com", "client_api_key": new_key}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = api.get("/api/v1/admin/domains/app.example.com").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Unregister with the admin key alone: 200, then 404 for the domain already gone.
async fn unregister_with_the_admin_key_alone(api: &Api) {
    let (status, _) = api
        .post(UNREGISTER, json!({"domain": "second.example.com"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .post(UNREGISTER, json!({"domain": "second.example.com"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_on_sqlite() {
    scenario(&Database::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_on_postgres() {
    scenario(&Database::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlist_refuses_other_addresses() {
    let db = Database::sqlite();
    let outside = ControlPlane::start(&db, &[("HOP_ADMIN_ALLOW_IPS", "10.0.0.0/8")]);
    let (status, body) = outside.api().get("/api/v1/admin/domains").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error_of(&body).contains("HOP_ADMIN_ALLOW_IPS"));
    drop(outside);
    let inside = ControlPlane::start(&db, &[("HOP_ADMIN_ALLOW_IPS", "10.0.0.0/8, 127.0.0.0/8")]);
    let (status, _) = inside.api().get("/api/v1/admin/domains").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_every_route() {
    let db = Database::sqlite();
    let cp = ControlPlane::start(&db, &[]);
    let (status, doc) = cp.api().with_key("").get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    let routes = [
        ("/api/v1/admin/domains/register", "post"),
        ("/api/v1/admin/domains/unregister", "post"),
        ("/api/v1/admin/domains", "get"),
        ("/api/v1/admin/domains/{domain}", "get"),
        ("/api/v1/admin/domains/{domain}/rotate-key", "post"),
        ("/api/v1/admin/domains/{domain}/access", "get"),
        ("/api/v1/admin/domains/{domain}/access", "put"),
        ("/api/v1/openapi.json", "get"),
    ];
    for (path, method) in routes {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    let paths: std::collections::BTreeSet<&str> = routes.iter().map(|(path, _)| *path).collect();
    assert_eq!(doc["paths"].as_object().unwrap().len(), paths.len());
}

/// A visitor with a wrong client key is answered from a read: while another writer holds
/// the database's write lock (another control-plane, a long ACME write), wrong-key
/// unregisters are refused at once instead of queueing for the writer and a write
/// transaction (each would hold the control-plane's writer lock while it waits, and every
/// admin write behind it).
async fn wrong_keys_skip_the_writer(db: &Database) {
    let cp = ControlPlane::start(db, &[]);
    let api = cp.api();
    let key = api.register("app.example.com").await;
    let (version_before, _) = db.version_and_changes().await;

    let mut writer = db.connect().await;
    let mut held = writer.begin().await.unwrap();
    sqlx::query("UPDATE table_meta SET version = version WHERE id = 1")
        .execute(&mut *held)
        .await
        .unwrap();

    let anonymous = api.with_key("");
    let attempts = (0..20).map(|i| {
        let anonymous = &anonymous;
        async move {
            let wrong = format!("{i:064x}");
            let call = anonymous.post(
                UNREGISTER,
                json!({"domain": "app.example.com", "client_api_key": wrong}),
            );
            tokio::time::timeout(Duration::from_secs(2), call).await
        }
    });
    for answer in futures_util::future::join_all(attempts).await {
        let (status, body) = answer.expect("a wrong key waited for the database's write lock");
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // An unknown domain looks the same as a wrong key, and is just as quick.
    let call = anonymous.post(
        UNREGISTER,
        json!({"domain": "nobody.example.com", "client_api_key": key}),
    );
    let (status, _) = tokio::time::timeout(Duration::from_secs(2), call)
        .await
        .expect("an unknown domain waited for the database's write lock");
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    held.rollback().await.unwrap();
    // The right key still unregisters, through the one write transaction.
    let (status, body) = anonymous
        .post(
            UNREGISTER,
            json!({"domain": "app.example.com", "client_api_key": key}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (version_after, _) = db.version_and_changes().await;
    assert_eq!(version_after, version_before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_skip_the_writer_on_sqlite() {
    wrong_keys_skip_the_writer(&Database::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_skip_the_writer_on_postgres() {
    wrong_keys_skip_the_writer(&Database::postgres().await).await;
}
