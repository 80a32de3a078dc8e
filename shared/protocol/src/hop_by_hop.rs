//! Headers that describe one HTTP connection, not the message, and so never cross the
//! tunnel: both the gateway and the agent drop them, along with the headers a message's
//! `Connection` header names.

/// Headers that belong to one HTTP connection, never forwarded (RFC 9110 §7.6.1), plus
/// `proxy-connection`. Headers named in a message's `Connection` header are hop-by-hop too.
pub const HOP_BY_HOP_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
];

/// Credentials a visitor or a service exchanges with the proxy in between (RFC 9110
/// §11.7): the gateway is that proxy, so it consumes them and passes none on.
pub const PROXY_AUTH_HEADERS: &[&str] = &["proxy-authenticate", "proxy-authorization"];

/// Whether `name` is one of [`HOP_BY_HOP_HEADERS`] (compared ASCII case-insensitively).
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP_HEADERS
        .iter()
        .any(|hop| name.eq_ignore_ascii_case(hop))
}

/// Whether `name` is one of [`PROXY_AUTH_HEADERS`] (compared ASCII case-insensitively).
pub fn is_proxy_auth(name: &str) -> bool {
    PROXY_AUTH_HEADERS
        .iter()
        .any(|auth| name.eq_ignore_ascii_case(auth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_whatever_their_case() {
        assert!(is_hop_by_hop("Transfer-Encoding"));
        assert!(is_hop_by_hop("upgrade"));
        assert!(!is_hop_by_hop("content-length"));
        assert!(is_proxy_auth("Proxy-Authorization"));
        assert!(!is_proxy_auth("authorization"));
        assert!(!is_hop_by_hop("proxy-authorization"));
    }
}
