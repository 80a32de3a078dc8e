//! What the inspector refuses before anything else, because a web page the developer
//! visits could send it:
//!
//! - **DNS rebinding**: a page on `evil.example` whose name later resolves to 127.0.0.1
//!   reaches the listener with `Host: evil.example`. Only `localhost` or an IP address,
//!   with the listener's port, is served.
//! - **Cross-site requests**: a page can make the browser send a form `POST` to
//!   `http://127.0.0.1:4040` (no CORS needed to send one). Every `POST` must be JSON
//!   (`content-type: application/json`, which a form can't send without a CORS preflight,
//!   and the inspector answers none), and an `Origin` or `Sec-Fetch-Site` saying it comes
//!   from another site is refused. No CORS header is ever sent, so no other site can read
//!   an answer either.

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, Method, Request, StatusCode, header};

use super::metrics::Refusal;

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum Refused {
    /// The `Host` is not the listener's.
    #[error("the Host {0:?} is not this inspector's address: open it as http://localhost:PORT")]
    Host(String),
    /// A `POST` that is not JSON.
    #[error("a POST must be application/json")]
    NotJson,
    /// A request another site's page made.
    #[error("requests from other sites are refused ({0})")]
    CrossSite(String),
}

impl Refused {
    pub(super) fn reason(&self) -> Refusal {
        match self {
            Self::Host(_) => Refusal::Host,
            Self::NotJson | Self::CrossSite(_) => Refusal::CrossSite,
        }
    }

    pub(super) fn status(&self) -> StatusCode {
        match self {
            Self::Host(_) => StatusCode::MISDIRECTED_REQUEST,
            Self::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::CrossSite(_) => StatusCode::FORBIDDEN,
        }
    }

    pub(super) fn code(&self) -> &'static str {
        match self {
            Self::Host(_) => "bad_host",
            Self::NotJson => "not_json",
            Self::CrossSite(_) => "cross_site",
        }
    }
}

/// Checks a request to the listener at `local`.
pub(super) fn check<B>(request: &Request<B>, local: SocketAddr) -> Result<(), Refused> {
    let headers = request.headers();
    let host = text(headers, header::HOST).unwrap_or_default();
    if !is_own_host(host, local.port()) {
        return Err(Refused::Host(host.chars().take(100).collect()));
    }
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return Ok(());
    }
    if let Some(site) = text(headers, "sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Err(Refused::CrossSite(format!("Sec-Fetch-Site: {site}")));
    }
    if let Some(origin) = text(headers, header::ORIGIN)
        && origin != format!("http://{host}")
    {
        return Err(Refused::CrossSite(format!(
            "Origin: {}",
            origin.chars().take(100).collect::<String>()
        )));
    }
    let json = text(headers, header::CONTENT_TYPE).is_some_and(|value| {
        let media = value.split(';').next().unwrap_or_default().trim();
        media.eq_ignore_ascii_case("application/json")
    });
    match json {
        true => Ok(()),
        false => Err(Refused::NotJson),
    }
}

fn text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `localhost` or an IP address (`127.0.0.1`, `[::1]`), with `port` (or without a port
/// when `port` is 80). A name other than `localhost` is what DNS rebinding brings.
fn is_own_host(host: &str, port: u16) -> bool {
    let (name, given_port) = match host.rsplit_once(':') {
        Some((name, p)) if !name.ends_with(':') && (!name.contains(':') || name.ends_with(']')) => {
            (name, p.parse::<u16>().ok())
        }
        _ => (host, Some(80)),
    };
    if given_port != Some(port) {
        return false;
    }
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || (bare.parse::<IpAddr>().is_ok() && (bare.contains(':') == name.starts_with('[')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().method(method).uri("/api/exchanges");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    const LOCAL: &str = "127.0.0.1:4040";

    #[test]
    fn only_own_hosts_are_served() {
        let local: SocketAddr = LOCAL.parse().unwrap();
        for host in [
            "localhost:4040",
            "127.0.0.1:4040",
            "[::1]:4040",
            "LOCALHOST:4040",
        ] {
            assert_eq!(
                check(&request("GET", &[("host", host)]), local),
                Ok(()),
                "{host}"
            );
        }
        for host in [
            "evil.example:4040",
            "localhost:4041",
            "localhost",
            "::1:4040",
            "127.0.0.1.nip.io:4040",
            "",
        ] {
            let refused = check(&request("GET", &[("host", host)]), local).unwrap_err();
            assert_eq!(refused.status(), StatusCode::MISDIRECTED_REQUEST, "{host}");
        }
        assert!(check(&request("GET", &[]), local).is_err(), "no Host");
        let port_80: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(
            check(&request("GET", &[("host", "localhost")]), port_80),
            Ok(())
        );
    }

    #[test]
    fn a_post_must_be_json_and_from_this_page() {
        let local: SocketAddr = LOCAL.parse().unwrap();
        let host = ("host", LOCAL);
        let json = ("content-type", "application/json");
        assert_eq!(check(&request("POST", &[host, json]), local), Ok(()));
        let same = ("origin", "http://127.0.0.1:4040");
        assert_eq!(check(&request("POST", &[host, json, same]), local), Ok(()));
        let form = ("content-type", "application/x-www-form-urlencoded");
        assert_eq!(
            check(&request("POST", &[host, form]), local),
            Err(Refused::NotJson)
        );
        let other = ("origin", "https://evil.example");
        assert!(matches!(
            check(&request("POST", &[host, json, other]), local),
            Err(Refused::CrossSite(_))
        ));
        let fetch = ("sec-fetch-site", "cross-site");
        assert!(matches!(
            check(&request("POST", &[host, json, fetch]), local),
            Err(Refused::CrossSite(_))
        ));
    }
}
