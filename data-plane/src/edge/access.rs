//! The domain's access policy, checked on the pod the visitor reached, before the request
//! goes anywhere (to the agent's session here, or relayed to another pod): denied address
//! ranges, then allowed ones (403), then Basic credentials (401 with `WWW-Authenticate`).
//! The visitor's address is the TCP peer, never a header. A refusal is counted in
//! `hopgate_access_denied_total{reason}`.
//!
//! The relay listener does not check again: only pods hold `HOP_RELAY_TOKEN`, and a pod
//! relays only what it admitted here. The credentials that opened the gate are the
//! gateway's, not the service's: the `Authorization` header that carried them is not
//! passed on ([`Granted::drops_authorization`]).

use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        StatusCode,
        header::{AUTHORIZATION, WWW_AUTHENTICATE},
    },
};
use hopgate_table::access::{Denial, basic};
use slog::debug;

use crate::{http::pages, upstream::AppState};

/// A request the policy lets through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Granted {
    /// The policy asked for Basic credentials: the `Authorization` header that carried
    /// them stays at the gateway.
    pub(crate) drops_authorization: bool,
}

/// Checks the request for `host` against the domain's policy (none: everyone may pass);
/// the page for a refusal.
pub(crate) fn check(
    req: &HttpRequest,
    host: &str,
    state: &AppState,
) -> Result<Granted, Box<HttpResponse>> {
    let Some(policy) = state.table.access(host) else {
        return Ok(Granted::default());
    };
    let authorization = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    // No peer address (never on a TCP listener) can't be matched against any range.
    let verdict = match req.peer_addr() {
        Some(peer) => policy.check(peer.ip(), authorization),
        None if policy.allow_cidrs.is_empty() && policy.deny_cidrs.is_empty() => {
            policy.check_credentials(authorization)
        }
        None => Err(Denial::CidrNotAllowed),
    };
    match verdict {
        Ok(()) => Ok(Granted {
            drops_authorization: policy.requires_credentials(),
        }),
        Err(denial) => {
            state.metrics.access_denied(denial);
            debug!(state.log, "request refused by the access policy";
                "domain" => host, "reason" => denial.reason());
            Err(Box::new(page(req, host, denial)))
        }
    }
}

/// The answer to a refused request: 401 asking for credentials, or 403.
fn page(req: &HttpRequest, host: &str, denial: Denial) -> HttpResponse {
    if !denial.asks_for_credentials() {
        return pages::error(
            req,
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!("Your address may not reach {host}."),
        );
    }
    let detail = match denial {
        Denial::AuthWrong => format!("The user name or password for {host} is wrong."),
        _ => format!("{host} asks for a user name and password."),
    };
    let mut response = pages::error(req, StatusCode::UNAUTHORIZED, "Unauthorized", &detail);
    if let Ok(challenge) = basic::challenge(host).try_into() {
        response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
    }
    response
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn refusals_say_why_and_ask_for_credentials_when_they_help() {
        let req = TestRequest::default().to_http_request();
        let forbidden = page(&req, "app.test", Denial::CidrNotAllowed);
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
        assert!(forbidden.headers().get(WWW_AUTHENTICATE).is_none());
        for denial in [Denial::AuthMissing, Denial::AuthWrong] {
            let asked = page(&req, "app.test", denial);
            assert_eq!(asked.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(
                asked.headers().get(WWW_AUTHENTICATE).unwrap(),
                "Basic realm=\"app.test\", charset=\"UTF-8\""
            );
            assert_eq!(asked.headers().get("cache-control").unwrap(), "no-store");
        }
    }
}
