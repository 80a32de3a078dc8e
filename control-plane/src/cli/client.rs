//! The admin CLI's calls to the admin API, one per action, and what can go wrong with them,
//! each shown as `SOURCE: reason` with the API's URL as the source.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

use super::{
    access::AccessChange,
    settings::{Action, Invocation},
};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A call that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// No answer: nothing listens there, the network or TLS failed, or it took too long.
    #[error("{url}: cannot reach the admin API: {reason}")]
    Unreachable {
        url: String,
        reason: String,
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with an error.
    #[error("{url}: {status} {code}: {message}")]
    Refused {
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    /// Something answered, but not as the admin API does.
    #[error("{url}: the answer ({status}) is not the admin API's: {reason}")]
    NotTheApi {
        url: String,
        status: u16,
        reason: String,
    },
    /// The URL can't take a path (checked when it is read; kept for completeness).
    #[error("{url}: cannot add the API's path to this URL")]
    BadUrl { url: String },
}

/// Makes the action's call and returns the API's JSON answer.
pub(crate) async fn call(invocation: &Invocation) -> Result<Value, CallError> {
    let domain = invocation.domain.as_deref().unwrap_or_default();
    let (method, path, body): (_, &[&str], _) = match invocation.action {
        Action::Add => (
            Method::POST,
            &["register"],
            Some(json!({ "domain": domain, "memo": invocation.memo.as_deref().unwrap_or("") })),
        ),
        Action::List => (Method::GET, &[], None),
        Action::Show => (Method::GET, &[domain], None),
        Action::RotateKey => (Method::POST, &[domain, "rotate-key"], None),
        Action::Remove => (
            Method::POST,
            &["unregister"],
            Some(json!({ "domain": domain })),
        ),
        Action::SetAuth => (
            Method::PUT,
            &[domain, "access"],
            invocation.access.as_ref().map(AccessChange::body),
        ),
    };
    request(invocation, method, path, body).await
}

/// `METHOD {url}/api/v1/admin/domains/{path…}` with the admin key and a JSON `body`.
async fn request(
    invocation: &Invocation,
    method: Method,
    path: &[&str],
    body: Option<Value>,
) -> Result<Value, CallError> {
    let base = &invocation.url;
    let endpoint = endpoint(base, path)?;
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .build()
        .map_err(|source| unreachable(base, source))?;
    let mut request = client
        .request(method, endpoint)
        .bearer_auth(invocation.key.key.expose());
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
    }
    let response = request
        .send()
        .await
        .map_err(|source| unreachable(base, source))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|source| unreachable(base, source))?;
    let not_the_api = |reason: String| CallError::NotTheApi {
        url: base.to_string(),
        status: status.as_u16(),
        reason,
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| not_the_api(e.to_string()))?;
    if status.is_success() {
        return Ok(value);
    }
    let (Some(code), Some(message)) = (value["code"].as_str(), value["error"].as_str()) else {
        return Err(not_the_api(format!("no error in {}", clip(&text))));
    };
    let mut message = message.to_owned();
    if status == StatusCode::UNAUTHORIZED {
        message.push_str(&format!(" (the key from {})", invocation.key.source));
    }
    Err(CallError::Refused {
        url: base.to_string(),
        status: status.as_u16(),
        code: code.to_owned(),
        message,
    })
}

/// `base` + `api/v1/admin/domains/` + `path` (each part one path segment, escaped).
fn endpoint(base: &Url, path: &[&str]) -> Result<Url, CallError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| CallError::BadUrl {
            url: base.to_string(),
        })?
        .pop_if_empty()
        .extend(["api", "v1", "admin", "domains"])
        .extend(path);
    Ok(url)
}

fn unreachable(url: &Url, source: reqwest::Error) -> CallError {
    let reason = if source.is_timeout() {
        format!("no answer within {} s", CALL_TIMEOUT.as_secs())
    } else {
        // reqwest's own message names the URL; the innermost cause says what happened.
        let mut cause: &dyn std::error::Error = &source;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        cause.to_string()
    };
    CallError::Unreachable {
        url: url.to_string(),
        reason,
        source,
    }
}

/// At most 200 characters of `text`, for an error message.
fn clip(text: &str) -> String {
    let mut clipped: String = text.chars().take(200).collect();
    if clipped.len() < text.len() {
        clipped.push('…');
    }
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_the_base_path_and_escape_the_domain() {
        let base = Url::parse("http://127.0.0.1:8081").unwrap();
        assert_eq!(
            endpoint(&base, &["a.example.com", "rotate-key"])
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8081/api/v1/admin/domains/a.example.com/rotate-key"
        );
        let behind_proxy = Url::parse("https://ops.example.com/hopgate/").unwrap();
        assert_eq!(
            endpoint(&behind_proxy, &[]).unwrap().as_str(),
            "https://ops.example.com/hopgate/api/v1/admin/domains"
        );
        assert_eq!(
            endpoint(&base, &["a/b?c"]).unwrap().as_str(),
            "http://127.0.0.1:8081/api/v1/admin/domains/a%2Fb%3Fc"
        );
    }
}
