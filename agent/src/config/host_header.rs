//! [`HostHeader`]: the `Host` the local service sees (`--host-header`, per tunnel).
//!
//! Development servers often refuse a `Host` they don't know (Vite's "This host is not
//! allowed", Jupyter's 403): `rewrite` shows them their own address instead, and a value
//! shows them that name. Either way the visitor's `Host` goes on in `X-Forwarded-Host`.

use std::fmt;

use http::{HeaderValue, uri::Authority};

/// What the local service gets as `Host`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HostHeader {
    /// The visitor's `Host` (the public domain), as sent.
    #[default]
    Preserve,
    /// The local target's own `host:port`.
    Rewrite,
    /// This name (`host` or `host:port`).
    Fixed(HeaderValue),
}

impl HostHeader {
    /// Parses `preserve`, `rewrite` (any case) or a `host[:port]` to send instead.
    pub fn parse(text: &str) -> Result<Self, String> {
        let given = text.trim();
        if given.eq_ignore_ascii_case("preserve") {
            return Ok(Self::Preserve);
        }
        if given.eq_ignore_ascii_case("rewrite") {
            return Ok(Self::Rewrite);
        }
        let not_a_host = || {
            format!(
                "{text:?} is not preserve, rewrite or a host name (host or host:port, e.g. \
                 localhost:5173)"
            )
        };
        let authority: Authority = given.parse().map_err(|_| not_a_host())?;
        if given.is_empty() || given.contains('@') || authority.host().is_empty() {
            return Err(not_a_host());
        }
        HeaderValue::from_str(authority.as_str())
            .map(Self::Fixed)
            .map_err(|_| not_a_host())
    }
}

impl fmt::Display for HostHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Preserve => f.write_str("preserve"),
            Self::Rewrite => f.write_str("rewrite"),
            Self::Fixed(value) => f.write_str(value.to_str().unwrap_or("?")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_names() {
        assert_eq!(HostHeader::parse("preserve").unwrap(), HostHeader::Preserve);
        assert_eq!(HostHeader::parse(" Rewrite ").unwrap(), HostHeader::Rewrite);
        for name in ["localhost", "localhost:5173", "app.internal", "[::1]:3000"] {
            let parsed = HostHeader::parse(name).unwrap();
            assert_eq!(parsed, HostHeader::Fixed(HeaderValue::from_static(name)));
            assert_eq!(parsed.to_string(), name);
        }
    }

    #[test]
    fn what_is_not_a_host_is_refused() {
        for bad in [
            "",
            "http://localhost",
            "localhost/path",
            "user@localhost",
            "two words",
            ":80",
        ] {
            let err = HostHeader::parse(bad).unwrap_err();
            assert!(
                err.contains("not preserve, rewrite or a host name"),
                "{bad:?}: {err}"
            );
        }
    }
}
