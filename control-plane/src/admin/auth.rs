//! Who may call the admin API: the optional IP allowlist (`HOP_ADMIN_ALLOW_IPS`, checked
//! against the TCP peer for every route → 403), then the bearer admin key compared in
//! constant time (→ 401). Extractors: [`Admin`] requires the key; [`Caller`] lets
//! unregister also accept a domain's own key instead.

use std::{
    future::{Ready, ready},
    net::IpAddr,
};

use actix_web::{
    FromRequest, HttpRequest,
    body::MessageBody,
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::header::AUTHORIZATION,
    middleware::Next,
    web,
};
use ipnet::IpNet;

use super::error::ApiError;
use crate::{config::Secret, keys};

/// The admin listener's access settings (app data).
pub(crate) struct Access {
    pub(crate) key: Secret,
    pub(crate) allow: Vec<IpNet>,
}

impl Access {
    fn allows(&self, peer: Option<IpAddr>) -> bool {
        if self.allow.is_empty() {
            return true;
        }
        let Some(ip) = peer.map(|ip| ip.to_canonical()) else {
            return false;
        };
        self.allow.iter().any(|net| net.contains(&ip))
    }
}

/// Middleware: 403 for peers outside the allowlist.
pub(crate) async fn allowlist(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let peer = req.peer_addr().map(|a| a.ip());
    let allowed = req
        .app_data::<web::Data<Access>>()
        .is_some_and(|access| access.allows(peer));
    if !allowed {
        return Err(ApiError::forbidden("your address is not in HOP_ADMIN_ALLOW_IPS").into());
    }
    next.call(req).await
}

/// The request's bearer token: `None` without an `Authorization` header.
fn bearer(req: &HttpRequest) -> Option<Result<&str, ApiError>> {
    let value = req.headers().get(AUTHORIZATION)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("Authorization must be 'Bearer <key>'"));
    Some(token)
}

fn is_admin(req: &HttpRequest, token: &str) -> bool {
    req.app_data::<web::Data<Access>>()
        .is_some_and(|access| keys::secrets_equal(token, access.key.expose()))
}

/// A caller holding the admin key.
pub(crate) struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match bearer(req) {
            None => Err(ApiError::unauthorized(
                "missing Authorization: Bearer <admin key>",
            )),
            Some(Err(e)) => Err(e),
            Some(Ok(token)) if is_admin(req, token) => Ok(Admin),
            Some(Ok(_)) => Err(ApiError::unauthorized("wrong admin key")),
        })
    }
}

/// Unregister's caller: the admin, or (no `Authorization` header) someone who must show
/// the domain's own key in the body. A wrong bearer is refused either way.
pub(crate) enum Caller {
    Admin,
    KeyHolder,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match bearer(req) {
            None => Ok(Caller::KeyHolder),
            Some(Err(e)) => Err(e),
            Some(Ok(token)) if is_admin(req, token) => Ok(Caller::Admin),
            Some(Ok(_)) => Err(ApiError::unauthorized("wrong admin key")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_matches_cidrs_and_mapped_addresses() {
        let access = Access {
            key: Secret::new("k"),
            allow: vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        };
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(access.allows(ip("10.1.2.3")));
        assert!(access.allows(ip("::ffff:10.1.2.3")));
        assert!(access.allows(ip("::1")));
        assert!(!access.allows(ip("127.0.0.1")));
        assert!(!access.allows(None));
        let open = Access {
            key: Secret::new("k"),
            allow: vec![],
        };
        assert!(open.allows(ip("192.0.2.1")));
    }
}
