//! The admin API (`HOP_ADMIN_LISTEN`): domains registered, listed, rotated and removed by
//! the operator, and their access policies (`access`). Every error is JSON `{"error", "code"}` (bad JSON and bad paths included,
//! through the extractor configs; a method a route doesn't answer gets 405 with `Allow`);
//! `auth` guards the routes, `handlers` does the work,
//! `error` maps failures to statuses, `openapi.json` documents it all.

mod access;
mod auth;
mod error;
mod handlers;

use std::sync::Arc;

use actix_web::{
    App, FromRequest, Handler, HttpResponse, Resource, Responder,
    dev::{ServiceFactory, ServiceRequest, ServiceResponse},
    http::{Method, header::ALLOW},
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
    /// `HOP_ADMIN_ACCESS_MAX_ENTRIES`: the most entries in each list of an access policy.
    pub(crate) access_max_entries: usize,
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
                .service(only(Method::GET, "/openapi.json", handlers::openapi))
                .service(only(
                    Method::POST,
                    "/admin/domains/register",
                    handlers::register,
                ))
                .service(only(
                    Method::POST,
                    "/admin/domains/unregister",
                    handlers::unregister,
                ))
                .service(only(Method::GET, "/admin/domains", handlers::list))
                .service(only(Method::GET, "/admin/domains/{domain}", handlers::get))
                .service(only(
                    Method::POST,
                    "/admin/domains/{domain}/rotate-key",
                    handlers::rotate,
                ))
                .service(
                    answering(
                        "/admin/domains/{domain}/access",
                        &[Method::GET, Method::PUT],
                    )
                    .route(web::get().to(access::get))
                    .route(web::put().to(access::put)),
                ),
        )
        .default_service(web::to(|| async {
            HttpResponse::NotFound().json(serde_json::json!({
                "error": "no such route (see /api/v1/openapi.json)",
                "code": "not_found",
            }))
        }))
}

/// The route `path` answering `method` with `handler`, and every other method with 405,
/// `Allow: METHOD` and a JSON error.
fn only<F, Args>(method: Method, path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    answering(path, std::slice::from_ref(&method)).route(web::method(method).to(handler))
}

/// The route `path`, whose routes the caller adds for `methods`; every other method gets
/// 405, `Allow: METHOD, …` and a JSON error.
fn answering(path: &str, methods: &[Method]) -> Resource {
    let allow = methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    web::resource(path).default_service(web::to(move || {
        let allow = allow.clone();
        async move {
            HttpResponse::MethodNotAllowed()
                .insert_header((ALLOW, allow.as_str()))
                .json(serde_json::json!({
                    "error": format!("this route answers {allow} only"),
                    "code": "method_not_allowed",
                }))
        }
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
            "/api/v1/admin/domains/{domain}/access",
            "/api/v1/openapi.json",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
        let certificate = &doc["components"]["schemas"]["Domain"]["properties"]["certificate"];
        assert!(certificate.is_object(), "Domain.certificate documented");
    }

    #[test]
    fn openapi_access_limits_are_the_ones_the_api_applies() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let schemas = &doc["components"]["schemas"];
        for list in ["basic_auth", "allow_cidrs", "deny_cidrs"] {
            assert_eq!(
                schemas["AccessRequest"]["properties"][list]["maxItems"],
                crate::config::DEFAULT_ACCESS_MAX_ENTRIES,
                "{list}"
            );
        }
        let user = &schemas["BasicUser"]["properties"];
        assert_eq!(user["user"]["maxLength"], access::MAX_USER);
        assert_eq!(user["password"]["minLength"], access::MIN_PASSWORD);
        assert_eq!(user["password"]["maxLength"], access::MAX_PASSWORD);
    }

    #[test]
    fn openapi_domain_names_are_the_ones_the_api_accepts() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let name = &doc["components"]["schemas"]["DomainName"];
        assert_eq!(name["pattern"], crate::domain_name::PATTERN);
        assert_eq!(name["maxLength"], crate::domain_name::MAX_LEN);
        let reference = "#/components/schemas/DomainName";
        let schemas = &doc["components"]["schemas"];
        for request in ["RegisterRequest", "UnregisterRequest"] {
            assert_eq!(
                schemas[request]["properties"]["domain"]["$ref"], reference,
                "{request}"
            );
        }
        assert_eq!(
            doc["components"]["parameters"]["Domain"]["schema"]["$ref"],
            reference
        );
    }
}
