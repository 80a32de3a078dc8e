//! Request targets the gateway accepts: origin-form only (`/path?query`, or `*` for
//! `OPTIONS`; RFC 9112 §3.2). Absolute-form, authority-form and the HTTP/2 `:path`
//! values that don't start with `/` are refused at the edge, before any routing: a target
//! is pasted into nothing, and nothing downstream has to guess which host a request names.

use actix_web::{
    HttpRequest,
    http::{Method, Version},
};

/// Why a request target was refused (shown on the 400 page).
pub(crate) fn check(req: &HttpRequest) -> Result<(), &'static str> {
    let uri = req.uri();
    // HTTP/2 always carries `:scheme` and `:authority` in the URI; HTTP/1 only when the
    // request line used absolute-form or authority-form.
    let http1 = matches!(
        req.version(),
        Version::HTTP_09 | Version::HTTP_10 | Version::HTTP_11
    );
    if http1 && (uri.scheme().is_some() || uri.authority().is_some()) {
        return Err("must be a path (origin-form), not an absolute URL or an authority");
    }
    let target = uri.path_and_query().map_or("", |pq| pq.as_str());
    if target == "*" && req.method() == Method::OPTIONS {
        return Ok(());
    }
    if !target.starts_with('/') {
        return Err("must start with '/'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use actix_web::{http::Method, test::TestRequest};

    use super::check;

    #[test]
    fn origin_form_and_options_asterisk_pass() {
        assert!(check(&TestRequest::with_uri("/a/b?c=d").to_http_request()).is_ok());
        let options = TestRequest::with_uri("*").method(Method::OPTIONS);
        assert!(check(&options.to_http_request()).is_ok());
    }

    #[test]
    fn absolute_authority_and_pathless_targets_are_refused() {
        for target in [
            "http://evil.example/x",
            "evil.example:443",
            // `@127.0.0.1:1/x` can't be built as a test request: the HTTP/2 test in
            // tests/hostile_request_target.rs sends it.
            "*",
        ] {
            let req = TestRequest::with_uri(target).to_http_request();
            assert!(check(&req).is_err(), "{target} passed");
        }
    }
}
