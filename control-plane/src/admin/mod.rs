//! The admin API (`HOP_ADMIN_LISTEN`): domains registered, listed, rotated and removed by
//! the operator. Every error is JSON `{"error", "code"}` (bad JSON and bad paths included,
//! through the extractor configs); `auth` guards the routes, `handlers` does the work,
//! `error` maps failures to statuses, `openapi.json` documents it all.

mod auth;
mod error;
mod handlers;

use std::sync::Arc;

use actix_web::{
    App, HttpResponse,
    dev::{ServiceFactory, ServiceRequest, ServiceResponse},
    middleware::from_fn,
    web,
};

pub(crate) use self::auth::Access;
pub(crate) use self::error::ApiError;
use crate::{acme::Acme, internal::Pods, metrics::Metrics, service::Domains};

/// The hand-written OpenAPI 3.0 document served at `/api/v1/openapi.json`.
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

/// The largest JSON body accepted.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// What the handlers share.
pub(crate) struct AdminState {
    pub(crate) domains: Arc<Domains>,
    pub(crate) pods: Arc<Pods>,
    /// Told about registrations; says whether ACME is on.
    pub(crate) acme: Acme,
}

pub(crate) fn app(
    state: web::Data<AdminState>,
    access: web::Data<Access>,
    metrics: web::Data<Metrics>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let json = web::JsonConfig::default()
        .limit(MAX_BODY)
        .error_handler(|err, _| ApiError::bad_request(format!("invalid JSON body: {err}")).into());
    let path = web::PathConfig::default()
        .error_handler(|err, _| ApiError::bad_request(format!("invalid path: {err}")).into());
    App::new()
        .app_data(state)
        .app_data(access)
        .app_data(json)
        .app_data(path)
        .app_data(metrics)
        .wrap(from_fn(auth::allowlist))
        // Outermost: counts the allowlist's refusals too.
        .wrap(from_fn(crate::metrics::count_admin_call))
        .service(
            web::scope("/api/v1")
                .route("/openapi.json", web::get().to(handlers::openapi))
                .route(
                    "/admin/domains/register",
                    web::post().to(handlers::register),
                )
                .route(
                    "/admin/domains/unregister",
                    web::post().to(handlers::unregister),
                )
                .route("/admin/domains", web::get().to(handlers::list))
                .route("/admin/domains/{domain}", web::get().to(handlers::get))
                .route(
                    "/admin/domains/{domain}/rotate-key",
                    web::post().to(handlers::rotate),
                ),
        )
        .default_service(web::to(|| async {
            HttpResponse::NotFound().json(serde_json::json!({
                "error": "no such route (see /api/v1/openapi.json)",
                "code": "not_found",
            }))
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_document_parses_and_names_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        for path in [
            "/api/v1/admin/domains/register",
            "/api/v1/admin/domains/unregister",
            "/api/v1/admin/domains",
            "/api/v1/admin/domains/{domain}",
            "/api/v1/admin/domains/{domain}/rotate-key",
            "/api/v1/openapi.json",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
        let certificate = &doc["components"]["schemas"]["Domain"]["properties"]["certificate"];
        assert!(certificate.is_object(), "Domain.certificate documented");
    }
}
