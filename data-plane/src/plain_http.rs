//! Port 80: ACME HTTP-01 answers (from the pushed table, once there is one) and a redirect
//! to HTTPS for everything else.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode};

use crate::pages;

pub(crate) async fn handle(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/.well-known/acme-challenge/") {
        // Challenge answers arrive with the control-plane's table (issue 5).
        return pages::error(
            &req,
            StatusCode::NOT_FOUND,
            "Not Found",
            "No such ACME challenge.",
        );
    }
    let host = req.connection_info().host().to_owned();
    let Ok(host) = crate::host::normalize(&host) else {
        return pages::error(
            &req,
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Missing or invalid Host header.",
        );
    };
    let target = format!(
        "https://{host}{}",
        req.uri().path_and_query().map_or("/", |pq| pq.as_str())
    );
    HttpResponse::PermanentRedirect()
        .insert_header(("location", target))
        .finish()
}
