//! Host names as routing keys: lowercase ASCII, no port, no trailing dot; and which host
//! a request names: its `Host` header (HTTP/1.1) or `:authority` (HTTP/2), never
//! `Forwarded: host=` or `X-Forwarded-Host`, which any visitor can send.

use actix_web::{HttpRequest, http::Version};

/// The host `req` is for, as sent (port included): `:authority` on HTTP/2 (RFC 9113
/// §8.3.1; `Host` only when it is absent), the `Host` header on HTTP/1; empty when none.
pub(crate) fn requested(req: &HttpRequest) -> &str {
    let authority = (req.version() == Version::HTTP_2)
        .then(|| req.uri().authority())
        .flatten()
        .map(|authority| authority.as_str());
    authority
        .or_else(|| req.headers().get("host").and_then(|v| v.to_str().ok()))
        .unwrap_or("")
}

/// Normalizes a `Host` header value or a configured domain into a routing key.
pub(crate) fn normalize(host: &str) -> Result<String, &'static str> {
    let host = host.trim();
    // Strip a port; IPv6 literals keep their brackets.
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().ok_or("bad IPv6 literal")?
    } else {
        host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        })
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err("is empty");
    }
    if name.len() > 253 {
        return Err("is longer than 253 characters");
    }
    if !name.is_ascii() {
        // Browsers send IDNs as punycode (xn--…); raw Unicode here is not a valid Host.
        return Err("is not ASCII (use the punycode form, xn--...)");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '*')
    {
        return Err("has characters not allowed in a host name");
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::{normalize, requested};

    #[test]
    fn forwarding_headers_never_name_the_host() {
        let req = TestRequest::default()
            .insert_header(("host", "nobody.test"))
            .insert_header(("x-forwarded-host", "a.test"))
            .insert_header(("forwarded", "host=a.test"))
            .to_http_request();
        assert_eq!(requested(&req), "nobody.test");
        let none = TestRequest::default()
            .insert_header(("x-forwarded-host", "a.test"))
            .to_http_request();
        assert_eq!(requested(&none), "");
    }

    #[test]
    fn case_port_and_trailing_dot_are_ignored() {
        assert_eq!(
            normalize("App.Example.com:8443").unwrap(),
            "app.example.com"
        );
        assert_eq!(normalize("app.example.com.").unwrap(), "app.example.com");
        assert_eq!(
            normalize("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn junk_is_refused() {
        assert!(normalize("").is_err());
        assert!(normalize("bücher.example").is_err());
        assert!(normalize("a b.example").is_err());
        assert!(normalize(&"a".repeat(300)).is_err());
    }
}
