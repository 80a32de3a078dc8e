//! The two addresses a tunnel joins: the gateway's ([`ServerAddr`]) and the local
//! service's ([`LocalTarget`]), parsed from what people type.

use std::{fmt, net::IpAddr};

use http::uri::{Authority, Uri};

/// The port a gateway address without one gets: the data-plane's DTLS listener usually
/// takes UDP 443.
pub const DEFAULT_SERVER_PORT: u16 = 443;

/// The gateway's data-plane address: a host name or IP and a UDP port. Names are resolved
/// at every connection attempt, so a gateway that moves is found again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    host: String,
    port: u16,
}

impl ServerAddr {
    /// Parses `host:port`, `host` (port 443), `1.2.3.4:443`, `[::1]:443` or `::1`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty; give host:port".into());
        }
        if text.contains("://") {
            return Err(format!(
                "{text:?} has a scheme; give host:port, e.g. gw.example.com:443"
            ));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self {
                host: ip.to_string(),
                port: DEFAULT_SERVER_PORT,
            });
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("{text:?}: missing ']' after the IPv6 address"))?;
            host.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("{text:?}: {host:?} is not an IPv6 address"))?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(format!("{text:?}: expected ':port' after ']'")),
                },
            }
        } else {
            match text.split_once(':') {
                None => (text, None),
                Some((_, port)) if port.contains(':') => {
                    return Err(format!(
                        "{text:?}: write an IPv6 address in brackets, e.g. [::1]:443"
                    ));
                }
                Some((host, port)) => (host, Some(port)),
            }
        };
        if host.is_empty() {
            return Err(format!("{text:?}: the host is empty"));
        }
        if host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(format!("{text:?}: {host:?} is not a host name"));
        }
        let port = match port {
            None => DEFAULT_SERVER_PORT,
            Some(port) => parse_port(port).map_err(|why| format!("{text:?}: {why}"))?,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// The host part (a name or an IP, without brackets): the default DTLS server name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The UDP port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The local HTTP service a tunnel forwards to. Displays as `http://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTarget {
    authority: Authority,
    /// `http://host:port/`.
    root: Uri,
}

impl LocalTarget {
    /// Parses a port (`3000` means `127.0.0.1:3000`), `host:port`, or an `http://host[:port]`
    /// URL without a path.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty; give a port (3000), host:port or http://host:port".into());
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            let port = parse_port(text)?;
            return Self::from_authority(&format!("127.0.0.1:{port}"), text);
        }
        if let Some((scheme, _)) = text.split_once("://") {
            if !scheme.eq_ignore_ascii_case("http") {
                return Err(format!(
                    "{text:?}: only http:// targets are supported (the agent speaks plain \
                     HTTP/1.1 or h2c to the local service)"
                ));
            }
            let uri: Uri = text
                .parse()
                .map_err(|e| format!("{text:?} is not a URL: {e}"))?;
            if uri.query().is_some() || !matches!(uri.path(), "" | "/") {
                return Err(format!(
                    "{text:?}: a path or query is not supported; give http://host:port"
                ));
            }
            let authority = uri
                .authority()
                .ok_or_else(|| format!("{text:?} has no host"))?;
            if authority.as_str().contains('@') {
                return Err(format!(
                    "{text:?}: credentials in the URL are not supported"
                ));
            }
            let with_port = match authority.port_u16() {
                Some(_) => authority.as_str().to_owned(),
                None => format!("{}:80", authority.as_str()),
            };
            return Self::from_authority(&with_port, text);
        }
        if text.contains('/') {
            return Err(format!(
                "{text:?}: give a port, host:port or http://host:port"
            ));
        }
        Self::from_authority(text, text)
    }

    fn from_authority(authority: &str, original: &str) -> Result<Self, String> {
        let authority: Authority = authority
            .parse()
            .map_err(|e| format!("{original:?} is not a host:port: {e}"))?;
        let text = authority.as_str();
        let after_host = text.rfind(']').map_or(text, |i| &text[i + 1..]);
        let Some((_, port)) = after_host.rsplit_once(':') else {
            return Err(format!(
                "{original:?} has no port; give host:port, e.g. localhost:3000"
            ));
        };
        parse_port(port).map_err(|why| format!("{original:?}: {why}"))?;
        if authority.host().is_empty() {
            return Err(format!("{original:?}: the host is empty"));
        }
        let root = Uri::builder()
            .scheme("http")
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| format!("{original:?} is not a host:port: {e}"))?;
        Ok(Self { authority, root })
    }

    /// `host:port`, as in error messages ("connection refused to 127.0.0.1:3000").
    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }

    /// `http://host:port/`: where connections to the local service go.
    pub(crate) fn root(&self) -> &Uri {
        &self.root
    }

    /// The absolute URI of `path_and_query` (e.g. `/search?q=x`) on this target, built
    /// from parts. Only a path (origin-form) or `*` is taken: an absolute URL, an authority
    /// or anything else that doesn't start with `/` could name another host.
    pub(crate) fn uri_for(&self, path_and_query: &str) -> Result<Uri, TargetUriError> {
        let path_and_query = match path_and_query {
            "" => "/",
            "*" => "*",
            path if path.starts_with('/') => path,
            _ => return Err(TargetUriError::NotOriginForm),
        };
        Ok(Uri::builder()
            .scheme("http")
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()?)
    }
}

/// Why a request target has no URI on the local service.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TargetUriError {
    /// It isn't a path: refused rather than sent on.
    #[error("the request target is not a path (origin-form) and is refused")]
    NotOriginForm,
    /// It has characters a URI can't carry.
    #[error("the request target is not a valid path and query")]
    Invalid(#[from] http::Error),
}

impl fmt::Display for LocalTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority)
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(0) => Err("port 0 is not a port to connect to".into()),
        Ok(port) => Ok(port),
        Err(_) => Err(format!("port {text:?} is not a number in 1..=65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str) -> String {
        LocalTarget::parse(text).unwrap().to_string()
    }

    #[test]
    fn targets_people_type() {
        assert_eq!(target("3000"), "http://127.0.0.1:3000");
        assert_eq!(target(" 8080 "), "http://127.0.0.1:8080");
        assert_eq!(target("localhost:3000"), "http://localhost:3000");
        assert_eq!(target("192.168.1.5:80"), "http://192.168.1.5:80");
        assert_eq!(target("[::1]:3000"), "http://[::1]:3000");
        assert_eq!(target("http://localhost:3000"), "http://localhost:3000");
        assert_eq!(target("http://localhost:3000/"), "http://localhost:3000");
        assert_eq!(target("HTTP://app.internal"), "http://app.internal:80");
        assert_eq!(
            LocalTarget::parse("3000").unwrap().authority(),
            "127.0.0.1:3000"
        );
    }

    #[test]
    fn bad_targets_say_why() {
        for (text, why) in [
            ("", "empty"),
            ("0", "port 0"),
            ("70000", "1..=65535"),
            ("localhost", "no port"),
            ("localhost:http", "not a number"),
            ("https://localhost:3000", "only http://"),
            ("ftp://x:1", "only http://"),
            ("http://localhost:3000/api", "path"),
            ("http://localhost:3000/?a=b", "query"),
            ("http://user:pw@localhost:3000", "credentials"),
            ("localhost:3000/api", "give a port"),
        ] {
            let err = LocalTarget::parse(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn uri_for_joins_path_and_query() {
        let t = LocalTarget::parse("3000").unwrap();
        assert_eq!(
            t.uri_for("/a/b?x=1&y=2").unwrap().to_string(),
            "http://127.0.0.1:3000/a/b?x=1&y=2"
        );
        assert_eq!(t.uri_for("").unwrap().to_string(), "http://127.0.0.1:3000/");
        assert!(t.uri_for("/no space").is_err());
        for target in [
            "@127.0.0.1:19999/steal",
            "http://127.0.0.1:19999/steal",
            "127.0.0.1:19999",
            "no-slash",
        ] {
            assert!(
                matches!(t.uri_for(target), Err(TargetUriError::NotOriginForm)),
                "{target}"
            );
        }
    }

    #[test]
    fn server_addresses() {
        let parse =
            |s: &str| ServerAddr::parse(s).map(|a| (a.host().to_owned(), a.port(), a.to_string()));
        assert_eq!(
            parse("gw.example.com:4433").unwrap(),
            ("gw.example.com".into(), 4433, "gw.example.com:4433".into())
        );
        assert_eq!(
            parse("gw.example.com").unwrap(),
            ("gw.example.com".into(), 443, "gw.example.com:443".into())
        );
        assert_eq!(
            parse("127.0.0.1:9").unwrap(),
            ("127.0.0.1".into(), 9, "127.0.0.1:9".into())
        );
        assert_eq!(
            parse("[::1]:9").unwrap(),
            ("::1".into(), 9, "[::1]:9".into())
        );
        assert_eq!(
            parse("::1").unwrap(),
            ("::1".into(), 443, "[::1]:443".into())
        );
        assert_eq!(
            parse("[::1]").unwrap(),
            ("::1".into(), 443, "[::1]:443".into())
        );
        for (bad, why) in [
            ("", "empty"),
            ("https://gw:443", "scheme"),
            ("gw:0", "port 0"),
            ("gw:x", "not a number"),
            (":443", "host is empty"),
            ("fe80::1:443:", "brackets"),
            ("[::1", "missing ']'"),
            ("[gw]:1", "not an IPv6"),
        ] {
            let err = ServerAddr::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}
