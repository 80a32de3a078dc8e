//! The admin API's handlers. Extractors run in argument order, so the caller is checked
//! before the body is read. Keys appear only in the response bodies that create them.

use std::{
    collections::HashMap,
    time::{Duration, UNIX_EPOCH},
};

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{
    AdminState,
    auth::{Admin, Caller},
    error::ApiError,
};
use crate::{domain_name, internal::pods::PodSession, store::DomainRow};

/// The longest memo accepted.
pub(crate) const MAX_MEMO: usize = 1024;

/// A memo is a line of text: at most [`MAX_MEMO`] characters, none of them a control
/// character (the OpenAPI document's pattern says the same; Postgres can't store NUL).
fn check_memo(memo: &str) -> Result<(), ApiError> {
    if memo.chars().count() > MAX_MEMO {
        return Err(ApiError::bad_request(format!(
            "memo is longer than {MAX_MEMO} characters"
        )));
    }
    if memo.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "memo may not contain control characters",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterRequest {
    domain: String,
    #[serde(default)]
    memo: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnregisterRequest {
    domain: String,
    #[serde(default)]
    client_api_key: Option<String>,
}

#[derive(Serialize)]
struct KeyResponse {
    domain: String,
    client_api_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<CertificateView>,
}

/// A domain's certificate: `status` is `pending`, `valid`, `failed` (with `error`: the
/// ACME server's reason) or `disabled` (ACME is off).
#[derive(Serialize)]
struct CertificateView {
    status: String,
    not_after: Option<String>,
    error: Option<String>,
}

fn certificate_view(status: Option<&str>, not_after: Option<i64>, acme: bool) -> CertificateView {
    let not_after = not_after.map(|secs| rfc3339(secs.saturating_mul(1000)));
    let (status, error) = match status {
        _ if !acme => ("disabled", None),
        None | Some("pending") => ("pending", None),
        Some(s) => match s.strip_prefix("failed: ") {
            Some(reason) => ("failed", Some(reason.to_owned())),
            None => (s, None),
        },
    };
    CertificateView {
        status: status.to_owned(),
        not_after,
        error,
    }
}

#[derive(Serialize)]
struct DomainView {
    domain: String,
    memo: String,
    created_at: String,
    updated_at: String,
    key_rotated_at: String,
    connected: bool,
    pods: Vec<String>,
    sessions: Vec<SessionView>,
    certificate: CertificateView,
}

/// One live agent session of a domain, as its pod last reported it.
#[derive(Serialize)]
struct SessionView {
    pod: String,
    session_id: u64,
    /// The agent joined the domain's pool (`--pool`).
    pooled: bool,
    since: String,
    /// Requests it carried at the pod's last report (at most 10 s ago).
    in_flight: u64,
}

/// What the pods report: which pods hold each domain, and its sessions there.
struct Reported {
    pods: HashMap<String, Vec<String>>,
    sessions: HashMap<String, Vec<PodSession>>,
}

impl Reported {
    fn now(state: &AdminState) -> Self {
        Self {
            pods: state.pods.by_domain(),
            sessions: state.pods.sessions_by_domain(),
        }
    }
}

fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or_default());
    humantime::format_rfc3339_millis(t).to_string()
}

fn view(row: DomainRow, reported: &Reported, acme: bool) -> DomainView {
    let pods = reported.pods.get(&row.domain).cloned().unwrap_or_default();
    let sessions = reported
        .sessions
        .get(&row.domain)
        .map(|sessions| {
            sessions
                .iter()
                .map(|s| SessionView {
                    pod: s.pod.clone(),
                    session_id: s.session.id,
                    pooled: s.session.pooled,
                    since: rfc3339(i64::try_from(s.session.since_unix_ms).unwrap_or(i64::MAX)),
                    in_flight: s.session.in_flight,
                })
                .collect()
        })
        .unwrap_or_default();
    DomainView {
        certificate: certificate_view(row.cert_status.as_deref(), row.cert_not_after, acme),
        connected: !pods.is_empty(),
        pods,
        sessions,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        key_rotated_at: rfc3339(row.key_rotated_at),
        domain: row.domain,
        memo: row.memo,
    }
}

/// The normalized name, or 400 naming the problem.
pub(super) fn domain(input: &str) -> Result<String, ApiError> {
    domain_name::normalize(input).map_err(|why| {
        let shown: String = input.chars().take(80).collect();
        ApiError::bad_request(format!("domain '{shown}' {why}"))
    })
}

pub(crate) async fn register(
    _: Admin,
    state: web::Data<AdminState>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let domain = domain(&body.domain)?;
    let memo = body.memo.unwrap_or_default();
    check_memo(&memo)?;
    let key = state.domains.register(&domain, &memo).await?;
    state.acme.registered(&domain);
    Ok(HttpResponse::Created().json(KeyResponse {
        certificate: Some(certificate_view(None, None, state.acme.enabled())),
        domain,
        client_api_key: key,
    }))
}

pub(crate) async fn unregister(
    caller: Caller,
    state: web::Data<AdminState>,
    body: web::Json<UnregisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let domain = domain(&body.domain)?;
    let result = match (caller, body.client_api_key.as_deref()) {
        (Caller::Admin, _) => state.domains.unregister(&domain, None).await,
        (Caller::KeyHolder, None) => {
            return Err(ApiError::unauthorized(
                "send Authorization: Bearer <admin key>, or the domain's client_api_key",
            ));
        }
        (Caller::KeyHolder, Some(key)) => state
            .domains
            .unregister(&domain, Some(key))
            .await
            // Without the admin key, don't tell unknown domains from wrong keys.
            .map_err(|e| match e {
                crate::store::StoreError::NotFound => crate::store::StoreError::KeyMismatch,
                e => e,
            }),
    };
    result?;
    state.acme.unregistered(&domain);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "domain": domain, "unregistered": true })))
}

pub(crate) async fn list(_: Admin, state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let rows = state.domains.store.list().await?;
    let reported = Reported::now(&state);
    let acme = state.acme.enabled();
    let domains: Vec<DomainView> = rows.into_iter().map(|r| view(r, &reported, acme)).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "domains": domains })))
}

pub(crate) async fn get(
    _: Admin,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let domain = domain(&path)?;
    let row = state
        .domains
        .store
        .get(&domain)
        .await?
        .ok_or_else(|| ApiError::not_registered(&domain))?;
    let acme = state.acme.enabled();
    Ok(HttpResponse::Ok().json(view(row, &Reported::now(&state), acme)))
}

pub(crate) async fn rotate(
    _: Admin,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let domain = domain(&path)?;
    let key = state.domains.rotate(&domain).await?;
    Ok(HttpResponse::Ok().json(KeyResponse {
        domain,
        client_api_key: key,
        certificate: None,
    }))
}

pub(crate) async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(super::OPENAPI)
}
