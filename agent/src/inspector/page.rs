//! `GET /`: the inspector's one page, self-contained (its script and style are in it, no
//! other origin is asked for anything). Its Content-Security-Policy lets only that one
//! script run (by its SHA-256), lets it fetch only from this origin, and forbids framing;
//! the script shows captured data as text, never as HTML.

use std::sync::LazyLock;

use base64::Engine as _;
use http::{HeaderValue, Response, StatusCode, header};
use sha2::{Digest, Sha256};

use super::api::{Reply, whole};

const HTML: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("page.js");

/// The page with its script in it, and its policy.
static PAGE: LazyLock<(String, String)> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT));
    let page = HTML.replace("/*SCRIPT*/", SCRIPT);
    let policy = format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
         connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    );
    (page, policy)
});

pub(super) fn answer() -> Response<Reply> {
    let (page, policy) = &*PAGE;
    let mut response = whole(StatusCode::OK, "text/html; charset=utf-8", page.clone());
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_in_the_page_and_allowed_by_its_hash() {
        let (page, policy) = &*PAGE;
        assert!(page.contains(SCRIPT.trim()));
        assert!(!page.contains("/*SCRIPT*/"));
        assert!(policy.contains("script-src 'sha256-"));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no other origin"
        );
    }
}
