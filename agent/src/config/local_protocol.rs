//! [`LocalProtocol`]: how the agent speaks to the local service (`--local-protocol`, per
//! tunnel): HTTP/1.1, HTTP/2 with prior knowledge over plain TCP (h2c, what gRPC servers
//! speak), or the one the request calls for.

use std::fmt;

/// The HTTP version of the requests to the local service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LocalProtocol {
    /// HTTP/1.1 always.
    Http1,
    /// HTTP/2 with prior knowledge (h2c) always; a WebSocket upgrade still goes as HTTP/1.1.
    H2c,
    /// h2c for gRPC (a `content-type` of `application/grpc…`), HTTP/1.1 for the rest.
    #[default]
    Auto,
}

impl LocalProtocol {
    /// Parses `http1`, `h2c` or `auto` (any case).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "http1" => Ok(Self::Http1),
            "h2c" => Ok(Self::H2c),
            "auto" => Ok(Self::Auto),
            _ => Err(format!(
                "{text:?} is not http1, h2c or auto (h2c: HTTP/2 without TLS, as gRPC servers \
                 speak; auto: h2c for gRPC requests, HTTP/1.1 for the rest)"
            )),
        }
    }

    /// Whether a request with this `content-type` goes to the local service as h2c.
    pub(crate) fn uses_h2c(self, content_type: Option<&[u8]>) -> bool {
        match self {
            Self::Http1 => false,
            Self::H2c => true,
            Self::Auto => content_type.is_some_and(is_grpc),
        }
    }
}

/// `application/grpc`, `application/grpc+proto`, `application/grpc-web…` alike: the
/// content types of gRPC (RFC-less, from gRPC's PROTOCOL-HTTP2 document).
fn is_grpc(content_type: &[u8]) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    content_type.len() >= GRPC.len() && content_type[..GRPC.len()].eq_ignore_ascii_case(GRPC)
}

impl fmt::Display for LocalProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http1 => "http1",
            Self::H2c => "h2c",
            Self::Auto => "auto",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for (text, protocol) in [
            ("http1", LocalProtocol::Http1),
            (" H2C ", LocalProtocol::H2c),
            ("Auto", LocalProtocol::Auto),
        ] {
            assert_eq!(LocalProtocol::parse(text).unwrap(), protocol);
            assert_eq!(protocol.to_string(), text.trim().to_ascii_lowercase());
        }
        for bad in ["", "http2", "h2", "http/1.1"] {
            let err = LocalProtocol::parse(bad).unwrap_err();
            assert!(err.contains("is not http1, h2c or auto"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn auto_takes_h2c_for_grpc_only() {
        let auto = LocalProtocol::Auto;
        assert!(auto.uses_h2c(Some(b"application/grpc")));
        assert!(auto.uses_h2c(Some(b"application/grpc+proto")));
        assert!(auto.uses_h2c(Some(b"Application/GRPC-web")));
        assert!(!auto.uses_h2c(Some(b"application/json")));
        assert!(!auto.uses_h2c(Some(b"application/grp")));
        assert!(!auto.uses_h2c(None));
        assert!(LocalProtocol::H2c.uses_h2c(None));
        assert!(!LocalProtocol::Http1.uses_h2c(Some(b"application/grpc")));
    }
}
