//! Small branded error pages, HTML for browsers and JSON for clients that ask for it.

use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        ConnectionType, StatusCode,
        header::{HeaderValue, RETRY_AFTER},
    },
};

/// How many seconds a visitor turned away by a limit is asked to wait (`Retry-After`).
pub(crate) const RETRY_AFTER_SECS: u32 = 2;

/// An error answer: status, a short title and what happened.
pub(crate) fn error(
    req: &HttpRequest,
    status: StatusCode,
    title: &str,
    detail: &str,
) -> HttpResponse {
    let wants_json = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"));
    let mut response = HttpResponse::build(status);
    response.insert_header(("cache-control", "no-store"));
    if wants_json {
        let body = format!(
            r#"{{"error":{{"status":{},"title":{},"detail":{}}}}}"#,
            status.as_u16(),
            json_string(title),
            json_string(detail)
        );
        response.content_type("application/json").body(body)
    } else {
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{code} {title}</title>\
             <style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;color:#222}}\
             small{{color:#888}}</style></head><body><h1>{code} {title}</h1><p>{detail}</p>\
             <p><small>HopGate</small></p></body></html>",
            code = status.as_u16(),
            title = html_escape(title),
            detail = html_escape(detail),
        );
        response.content_type("text/html; charset=utf-8").body(body)
    }
}

/// A 503 page asking the visitor to come back shortly (`Retry-After`): a limit turned the
/// request away.
pub(crate) fn busy(req: &HttpRequest, detail: &str) -> HttpResponse {
    let mut response = error(
        req,
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        detail,
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

/// A 408 page for a request whose body stopped coming. The connection closes after it: the
/// rest of the body may still arrive, so it can't carry another request.
pub(crate) fn body_stalled(req: &HttpRequest, detail: &str) -> HttpResponse {
    let mut response = error(req, StatusCode::REQUEST_TIMEOUT, "Request Timeout", detail);
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    response
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(html_escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
