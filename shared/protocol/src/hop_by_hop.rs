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

/// Whether a `TE` value lists `trailers` (the client takes trailer fields). `TE` is
/// hop-by-hop, but `TE: trailers` is the one value HTTP/2 allows (RFC 9113 §8.2.2) and
/// gRPC servers require it, so a request that says it crosses the tunnel as `te: trailers`
/// (and any other `TE` stops at the first hop).
pub fn te_lists_trailers(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .map(|member| member.split(|&b| b == b';').next().unwrap_or_default())
        .any(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"trailers"))
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

    #[test]
    fn te_trailers_is_found_among_other_codings() {
        assert!(te_lists_trailers(b"trailers"));
        assert!(te_lists_trailers(b"gzip;q=0.5, Trailers"));
        assert!(te_lists_trailers(b"deflate ,trailers;q=1"));
        assert!(!te_lists_trailers(b"gzip, deflate"));
        assert!(!te_lists_trailers(b"trailers-ish"));
        assert!(!te_lists_trailers(b""));
    }
}
