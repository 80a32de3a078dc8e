//! The answers for requests that go no further than the pod that received them: a request
//! target that isn't origin-form (400), a malformed host (400), a request over a cap (503).
//! Each is counted in `hopgate_rejected_total` where the reason is the pod's.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode};
use slog::{Logger, debug};

use crate::{
    http::{limits::Busy, pages},
    ops::metrics::Metrics,
};

/// The 400 page (and a `bad_request_target` count) for a target that isn't origin-form.
pub(crate) fn origin_form(req: &HttpRequest, metrics: &Metrics) -> Result<(), Box<HttpResponse>> {
    crate::http::target::check(req).map_err(|why| {
        metrics.rejected("bad_request_target");
        Box::new(pages::error(
            req,
            StatusCode::BAD_REQUEST,
            "Bad Request",
            &format!("The request target {why}."),
        ))
    })
}

/// The request's host, normalized for routing, or the 400 page for a malformed one.
pub(crate) fn routable_host(req: &HttpRequest, raw: &str) -> Result<String, Box<HttpResponse>> {
    crate::host::normalize(raw).map_err(|why| {
        Box::new(pages::error(
            req,
            StatusCode::BAD_REQUEST,
            "Bad Request",
            &format!("The Host header {why}."),
        ))
    })
}

/// The 503 page (and its `hopgate_rejected_total` count) for a request over a cap.
pub(crate) fn busy_page(
    req: &HttpRequest,
    metrics: &Metrics,
    log: &Logger,
    host: &str,
    busy: Busy,
) -> HttpResponse {
    metrics.rejected(busy.reason());
    debug!(log, "request refused"; "domain" => host, "reason" => busy.reason());
    let detail = match busy {
        Busy::Domain => format!("{host} has too many requests in progress; try again shortly."),
        Busy::Client => {
            "You have too many requests in progress on this gateway; try again shortly.".into()
        }
    };
    pages::busy(req, &detail)
}

#[cfg(test)]
mod tests {
    use actix_web::{http::StatusCode, test::TestRequest};

    use super::routable_host;

    #[test]
    fn a_host_is_normalized_and_a_malformed_one_gets_a_400_page() {
        let req = TestRequest::default().to_http_request();
        assert_eq!(
            routable_host(&req, "App.Example.COM:8443").unwrap(),
            "app.example.com"
        );
        let page = routable_host(&req, "bad host/name").unwrap_err();
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    }
}
