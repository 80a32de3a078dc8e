//! A domain's access policy: `GET` and `PUT /api/v1/admin/domains/{domain}/access`.
//!
//! `PUT` replaces the whole policy (`{}` clears it): Basic users with their passwords,
//! allowed and denied address ranges. Passwords are hashed here, each with its own random
//! salt (`hopgate_table::access::Credential`), and are never stored, logged or shown
//! again: answers list the users only. Every list holds at most
//! `HOP_ADMIN_ACCESS_MAX_ENTRIES` entries; anything else wrong is a 400 naming the entry.

use actix_web::{HttpResponse, web};
use hopgate_table::access::{AccessPolicy, Cidr, Credential};
use serde::{Deserialize, Serialize};

use super::{AdminState, auth::Admin, error::ApiError, handlers::domain};
use crate::store::StoreError;

/// The longest user name, in characters.
pub(crate) const MAX_USER: usize = 128;
/// The shortest password, in characters (the table holds a fast hash of it: a password
/// must not be guessable from it; docs/security/access-control.md).
pub(crate) const MIN_PASSWORD: usize = 8;
/// The longest password, in characters.
pub(crate) const MAX_PASSWORD: usize = 256;

/// The body of a `PUT`; a missing or `null` list is an empty one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccessRequest {
    #[serde(default)]
    basic_auth: Option<Vec<UserPassword>>,
    #[serde(default)]
    allow_cidrs: Option<Vec<String>>,
    #[serde(default)]
    deny_cidrs: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPassword {
    user: String,
    password: String,
}

/// A policy as the API shows it: no passwords, no hashes.
#[derive(Serialize)]
struct AccessView {
    domain: String,
    basic_auth: Vec<UserView>,
    allow_cidrs: Vec<String>,
    deny_cidrs: Vec<String>,
}

#[derive(Serialize)]
struct UserView {
    user: String,
}

fn view(domain: String, policy: Option<&AccessPolicy>) -> AccessView {
    let policy = policy.cloned().unwrap_or_default();
    let strings = |cidrs: &[Cidr]| cidrs.iter().map(ToString::to_string).collect();
    AccessView {
        domain,
        basic_auth: policy
            .basic_auth
            .iter()
            .map(|c| UserView {
                user: c.user.clone(),
            })
            .collect(),
        allow_cidrs: strings(&policy.allow_cidrs),
        deny_cidrs: strings(&policy.deny_cidrs),
    }
}

/// A user name: 1 to [`MAX_USER`] characters, no `:` (it ends the user in a Basic
/// header) and no control characters.
fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() {
        return Err("user is empty".to_owned());
    }
    if user.chars().count() > MAX_USER {
        return Err(format!("user is longer than {MAX_USER} characters"));
    }
    if user.contains(':') {
        return Err("user may not contain ':' (it separates the user from the password)".into());
    }
    if user.chars().any(char::is_control) {
        return Err("user may not contain control characters".to_owned());
    }
    Ok(())
}

/// A password: [`MIN_PASSWORD`] to [`MAX_PASSWORD`] characters, no control characters.
fn check_password(password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < MIN_PASSWORD {
        return Err(format!(
            "password is shorter than {MIN_PASSWORD} characters"
        ));
    }
    if len > MAX_PASSWORD {
        return Err(format!("password is longer than {MAX_PASSWORD} characters"));
    }
    if password.chars().any(char::is_control) {
        return Err("password may not contain control characters".to_owned());
    }
    Ok(())
}

/// The checked policy of `request`, each password hashed with a fresh salt.
fn policy(request: AccessRequest, max_entries: usize) -> Result<AccessPolicy, ApiError> {
    let too_many = |field: &str, len: usize| {
        (len > max_entries).then(|| {
            ApiError::bad_request(format!(
                "{field} has {len} entries; at most {max_entries} are allowed \
                 (HOP_ADMIN_ACCESS_MAX_ENTRIES)"
            ))
        })
    };
    let users = request.basic_auth.unwrap_or_default();
    let allow = request.allow_cidrs.unwrap_or_default();
    let deny = request.deny_cidrs.unwrap_or_default();
    for (field, len) in [
        ("basic_auth", users.len()),
        ("allow_cidrs", allow.len()),
        ("deny_cidrs", deny.len()),
    ] {
        if let Some(err) = too_many(field, len) {
            return Err(err);
        }
    }
    let mut basic_auth = Vec::with_capacity(users.len());
    for (i, entry) in users.iter().enumerate() {
        check_user(&entry.user)
            .and_then(|()| check_password(&entry.password))
            .map_err(|why| ApiError::bad_request(format!("basic_auth[{i}]: {why}")))?;
        basic_auth.push(Credential::new(
            &entry.user,
            &entry.password,
            rand::random(),
        ));
    }
    Ok(AccessPolicy {
        basic_auth,
        allow_cidrs: cidrs("allow_cidrs", &allow)?,
        deny_cidrs: cidrs("deny_cidrs", &deny)?,
    })
}

/// The ranges of `field`, or 400 naming the first bad one.
fn cidrs(field: &str, texts: &[String]) -> Result<Vec<Cidr>, ApiError> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            text.parse().map_err(|why| {
                let shown: String = text.chars().take(60).collect();
                ApiError::bad_request(format!("{field}[{i}]: '{shown}' {why}"))
            })
        })
        .collect()
}

pub(crate) async fn get(
    _: Admin,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let domain = domain(&path)?;
    let policy = state
        .domains
        .store
        .access(&domain)
        .await?
        .ok_or_else(|| ApiError::not_registered(&domain))?;
    Ok(HttpResponse::Ok().json(view(domain, policy.as_ref())))
}

/// The body as a request. Taken as a JSON object first: serde would also read a struct of
/// optional fields from an array (`[null, null]`).
fn request(body: serde_json::Map<String, serde_json::Value>) -> Result<AccessRequest, ApiError> {
    serde_json::from_value(serde_json::Value::Object(body))
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

pub(crate) async fn put(
    _: Admin,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    let domain = domain(&path)?;
    let policy = policy(request(body.into_inner())?, state.access_max_entries)?;
    let shown = view(domain.clone(), Some(&policy));
    state
        .domains
        .set_access(&domain, Some(policy))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_registered(&domain),
            e => e.into(),
        })?;
    Ok(HttpResponse::Ok().json(shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> AccessRequest {
        let serde_json::Value::Object(body) = json else {
            panic!("not an object: {json}")
        };
        super::request(body).ok().unwrap()
    }

    #[test]
    fn only_an_object_is_a_policy() {
        let body =
            serde_json::json!({"basic_auth": [{"user": "a", "password": "long-enough", "x": 1}]});
        let serde_json::Value::Object(body) = body else {
            unreachable!()
        };
        let Err(err) = super::request(body) else {
            panic!("an unknown field was accepted")
        };
        assert!(err.to_string().contains("unknown field `x`"), "{err}");
    }

    fn refused(json: serde_json::Value) -> String {
        let Err(err) = policy(request(json), 3) else {
            panic!("accepted");
        };
        err.to_string()
    }

    #[test]
    fn a_policy_is_hashed_and_normalized() {
        let built = policy(
            request(serde_json::json!({
                "basic_auth": [{"user": "alice", "password": "correct horse"}],
                "allow_cidrs": ["10.1.2.3/8", "::1"],
                "deny_cidrs": null,
            })),
            3,
        )
        .ok()
        .unwrap();
        assert!(built.basic_auth[0].accepts(b"correct horse"));
        let shown = serde_json::to_string(&view("a.test".into(), Some(&built))).unwrap();
        assert_eq!(
            shown,
            r#"{"domain":"a.test","basic_auth":[{"user":"alice"}],"allow_cidrs":["10.0.0.0/8","::1/128"],"deny_cidrs":[]}"#
        );
        assert!(
            policy(request(serde_json::json!({})), 3)
                .ok()
                .unwrap()
                .is_open()
        );
    }

    #[test]
    fn every_mistake_is_named() {
        for (body, says) in [
            (
                serde_json::json!({"allow_cidrs": ["10.0.0.0/33"]}),
                "allow_cidrs[0]: '10.0.0.0/33' has a prefix length",
            ),
            (
                serde_json::json!({"deny_cidrs": ["::1", "nonsense"]}),
                "deny_cidrs[1]: 'nonsense' is not an IP address",
            ),
            (
                serde_json::json!({"basic_auth": [{"user": "", "password": "long-enough"}]}),
                "basic_auth[0]: user is empty",
            ),
            (
                serde_json::json!({"basic_auth": [{"user": "a:b", "password": "long-enough"}]}),
                "may not contain ':'",
            ),
            (
                serde_json::json!({"basic_auth": [{"user": "a", "password": "short"}]}),
                "shorter than 8",
            ),
            (
                serde_json::json!({"basic_auth": [{"user": "a\u{7}", "password": "long-enough"}]}),
                "control characters",
            ),
            (
                serde_json::json!({"allow_cidrs": ["::1", "::2", "::3", "::4"]}),
                "allow_cidrs has 4 entries; at most 3",
            ),
        ] {
            let message = refused(body.clone());
            assert!(message.contains(says), "{body}: {message}");
            assert!(message.starts_with("400 bad_request"), "{message}");
        }
    }
}
