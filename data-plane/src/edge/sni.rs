//! Which site a visitor's TLS connection was made for: the SNI name the client sent and the
//! certificate the gateway presented for it. A request on that connection may name another
//! host only when the same certificate covers it too (RFC 9110 §7.4: connection reuse, such
//! as two names under one wildcard); otherwise it gets 421 Misdirected Request (§15.5.20),
//! so a visitor can't reach one tenant through a connection negotiated for another.
//!
//! The HTTPS listener takes [`Presented`] from each finished handshake; it then travels
//! with every request of that connection (`connection::VisitorConnection`). A client that sent no
//! SNI (an IP-literal URL) got the default certificate: that one is what it accepted.
//! The certificate's DNS names are read out of it once per connection, on the first request
//! that names a host other than the SNI one, not on every request.

use std::sync::OnceLock;

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
    /// Its DNS names, decoded when first needed.
    certificate_names: OnceLock<Box<[String]>>,
}

impl Presented {
    /// What the finished handshake `ssl` was for.
    pub(crate) fn of(ssl: &SslRef) -> Self {
        Self {
            server_name: ssl
                .servername(NameType::HOST_NAME)
                .and_then(|name| crate::host::normalize(name).ok()),
            certificate: ssl.certificate().map(X509Ref::to_owned),
            certificate_names: OnceLock::new(),
        }
    }

    /// Whether a request for `host` (normalized) belongs on this connection: it names the
    /// SNI host, or the certificate presented covers it as well.
    pub(crate) fn allows(&self, host: &str) -> bool {
        self.server_name.as_deref() == Some(host)
            || self
                .certificate_names()
                .iter()
                .any(|pattern| name_matches(pattern, host))
    }

    /// The DNS names of the certificate presented (none without one).
    fn certificate_names(&self) -> &[String] {
        self.certificate_names.get_or_init(|| {
            self.certificate
                .as_deref()
                .map(dns_names)
                .unwrap_or_default()
        })
    }
}

/// The DNS names `cert` is valid for (its subject alternative names of that kind).
fn dns_names(cert: &X509Ref) -> Box<[String]> {
    cert.subject_alt_names()
        .map(|names| {
            names
                .iter()
                .filter_map(|name| name.dnsname().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
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
            certificate_names: OnceLock::new(),
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

    #[test]
    fn the_names_read_once_answer_every_later_request_alike() {
        let wildcard = presented(Some("a.gw.test"), &["gw.test", "*.gw.test"]);
        for _ in 0..3 {
            assert!(wildcard.allows("b.gw.test"));
            assert!(!wildcard.allows("a.test"));
            assert!(wildcard.allows("gw.test"));
            assert!(!wildcard.allows("a.b.gw.test"));
        }
        assert_eq!(wildcard.certificate_names(), ["gw.test", "*.gw.test"]);
        let bare = Presented {
            server_name: Some("a.test".to_owned()),
            certificate: None,
            certificate_names: OnceLock::new(),
        };
        assert!(bare.allows("a.test"));
        assert!(!bare.allows("b.test"));
    }
}
