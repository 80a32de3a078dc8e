//! Certificate facts the worker needs: a chain's validity (from its first certificate)
//! and when to renew it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The validity of a chain's leaf certificate, unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

/// A chain that can't be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BadChain {
    /// Its first block isn't PEM.
    #[error("unreadable certificate chain: {0}")]
    Pem(#[source] x509_parser::nom::Err<x509_parser::error::PEMError>),
    /// Its first block isn't an X.509 certificate.
    #[error("unreadable certificate chain: {0}")]
    Certificate(#[source] x509_parser::nom::Err<x509_parser::error::X509Error>),
}

/// Reads the validity of the first certificate of a PEM chain.
pub(crate) fn validity(chain_pem: &str) -> Result<Validity, BadChain> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(chain_pem.as_bytes()).map_err(BadChain::Pem)?;
    let cert = pem.parse_x509().map_err(BadChain::Certificate)?;
    let v = cert.validity();
    Ok(Validity {
        not_before: v.not_before.timestamp(),
        not_after: v.not_after.timestamp(),
    })
}

/// Now, unix seconds.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// When to renew: `renew_before` ahead of expiry, or (unset) when a third of the lifetime
/// is left. Unix seconds; may be in the past.
pub(crate) fn renew_at(validity: Validity, renew_before: Option<Duration>) -> i64 {
    let ahead = match renew_before {
        Some(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        None => (validity.not_after - validity.not_before).max(0) / 3,
    };
    validity.not_after.saturating_sub(ahead)
}

/// How long from now until `unix` (zero if it has passed).
pub(crate) fn until(unix: i64) -> Duration {
    Duration::from_secs(u64::try_from(unix - now_unix()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_generated_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["a.test".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let v = validity(&cert.pem()).unwrap();
        assert!(v.not_after > v.not_before);
        assert!(validity("garbage").is_err());
    }

    #[test]
    fn renewal_time() {
        let v = Validity {
            not_before: 0,
            not_after: 90,
        };
        assert_eq!(renew_at(v, None), 60);
        assert_eq!(renew_at(v, Some(Duration::from_secs(10))), 80);
        assert_eq!(renew_at(v, Some(Duration::from_secs(1000))), -910);
        assert_eq!(until(0), Duration::ZERO);
    }
}
