//! Which site a visitor's TLS connection was made for: the SNI name the client sent and the
//! certificate the gateway presented for it. A request on that connection may name another
//! host only when the same certificate covers it too (RFC 9110 §7.4: connection reuse, such
//! as two names under one wildcard); otherwise it gets 421 Misdirected Request (§15.5.20),
//! so a visitor can't reach one tenant through a connection negotiated for another.
//!
//! The HTTPS listener takes [`Presented`] from each finished handshake; it then travels
//! with every request of that connection (`connection::VisitorConnection`). A client that sent no
//! SNI (an IP-literal URL) got the default certificate: that one is what it accepted.

use openssl::{
    ssl::{NameType, SslRef},
    x509::{X509, X509Ref},
};

/// What one TLS connection was negotiated for.
pub(crate) struct Presented {
    /// The SNI name, normalized like a Host (`None`: the client sent none).
    server_name: Option<String>,
    /// The certificate the gateway presented on this connection.
    certificate: Option<X509>,
}

impl Presented {
    /// What the finished handshake `ssl` was for.
    pub(crate) fn of(ssl: &SslRef) -> Self {
        Self {
            server_name: ssl
                .servername(NameType::HOST_NAME)
                .and_then(|name| crate::host::normalize(name).ok()),
            certificate: ssl.certificate().map(X509Ref::to_owned),
        }
    }

    /// Whether a request for `host` (normalized) belongs on this connection: it names the
    /// SNI host, or the certificate presented covers it as well.
    pub(crate) fn allows(&self, host: &str) -> bool {
        self.server_name.as_deref() == Some(host)
            || self
                .certificate
                .as_deref()
                .is_some_and(|cert| covers(cert, host))
    }
}

/// Whether `cert` is valid for `host`: one of its DNS names matches it.
fn covers(cert: &X509Ref, host: &str) -> bool {
    cert.subject_alt_names().is_some_and(|names| {
        names
            .iter()
            .filter_map(|name| name.dnsname())
            .any(|pattern| name_matches(pattern, host))
    })
}

/// RFC 6125 §6.4: an exact name (case-insensitive), or `*.parent` standing for exactly one
/// label in front of `parent`.
fn name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    if pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    match (pattern.strip_prefix("*."), host.split_once('.')) {
        (Some(parent), Some((label, rest))) => {
            !label.is_empty() && !parent.is_empty() && parent.eq_ignore_ascii_case(rest)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(names: &[&str]) -> X509 {
        let names = names.iter().map(|n| (*n).to_owned()).collect();
        let (chain, _key) = crate::certs::self_signed(names).unwrap();
        X509::from_pem(chain.as_bytes()).unwrap()
    }

    fn presented(sni: Option<&str>, names: &[&str]) -> Presented {
        Presented {
            server_name: sni.map(str::to_owned),
            certificate: Some(certificate(names)),
        }
    }

    #[test]
    fn names_match_exactly_or_one_label_under_a_wildcard() {
        assert!(name_matches("a.example.test", "a.example.test"));
        assert!(name_matches("A.Example.Test", "a.example.test"));
        assert!(name_matches("*.example.test", "a.example.test"));
        assert!(!name_matches("*.example.test", "example.test"));
        assert!(!name_matches("*.example.test", "a.b.example.test"));
        assert!(!name_matches("*.example.test", "a.example.testx"));
        assert!(!name_matches("b.example.test", "a.example.test"));
        assert!(!name_matches("*.", "a."));
    }

    #[test]
    fn another_host_is_allowed_only_when_the_certificate_covers_it() {
        let own = presented(Some("b.test"), &["b.test"]);
        assert!(own.allows("b.test"));
        assert!(!own.allows("a.test"));
        let wildcard = presented(Some("a.gw.test"), &["gw.test", "*.gw.test"]);
        assert!(wildcard.allows("b.gw.test"));
        assert!(wildcard.allows("gw.test"));
        assert!(!wildcard.allows("a.test"));
    }

    #[test]
    fn without_sni_the_default_certificate_decides() {
        let default = presented(None, &["gw.test", "*.gw.test"]);
        assert!(default.allows("a.gw.test"));
        assert!(!default.allows("a.test"));
        // The SNI host itself is always allowed (an unknown name gets its 404 later).
        let unknown = presented(Some("nobody.test"), &["gw.test"]);
        assert!(unknown.allows("nobody.test"));
    }
}
