//! The data-plane's settings: CLI flags over `HOP_…` environment variables over defaults.

use std::{net::SocketAddr, str::FromStr, time::Duration};

use clap::Parser;

/// `hopgate-data-plane` settings.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "hopgate-data-plane",
    version,
    about = "HopGate data-plane: HTTPS in, through agents' DTLS sessions"
)]
pub(crate) struct Config {
    /// Plain HTTP listener: ACME HTTP-01 answers and redirects to HTTPS.
    #[arg(long, env = "HOP_SERVER_HTTP_LISTEN", default_value = "0.0.0.0:80")]
    pub(crate) http_listen: SocketAddr,
    /// HTTPS listener for visitors.
    #[arg(long, env = "HOP_SERVER_HTTPS_LISTEN", default_value = "0.0.0.0:443")]
    pub(crate) https_listen: SocketAddr,
    /// DTLS (UDP) listener for agents.
    #[arg(long, env = "HOP_SERVER_DTLS_LISTEN", default_value = "0.0.0.0:443")]
    pub(crate) dtls_listen: SocketAddr,
    /// The gateway's main domain.
    #[arg(long, env = "HOP_SERVER_DOMAIN")]
    pub(crate) domain: String,
    /// Self-signed certificates (agents pin the fingerprint printed at start).
    #[arg(long, env = "HOP_SERVER_DEBUG", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) debug: bool,
    /// The control-plane's internal listener, which pushes the routing table
    /// (e.g. `http://control-plane:8082`).
    #[arg(long, env = "HOP_CONTROL_PLANE_URL")]
    pub(crate) control_plane_url: Option<String>,
    /// The token shared with the control-plane's internal listener.
    #[arg(long, env = "HOP_INTERNAL_TOKEN", hide_env_values = true)]
    pub(crate) internal_token: Option<String>,
    /// This pod's name in the control-plane's view (default: the host name).
    #[arg(long, env = "HOP_POD_ID")]
    pub(crate) pod_id: Option<String>,
    /// A fixed routing table instead of the control-plane's, for development and tests
    /// (debug mode only): `DOMAIN=KEY`, repeatable or comma-separated.
    #[arg(long = "dev-domain", env = "HOP_DEV_DOMAINS", value_delimiter = ',')]
    pub(crate) dev_domains: Vec<DevDomain>,
    /// Where the data-plane keeps state: the last routing-table snapshot (served from
    /// when the control-plane is unreachable at start) and, in debug mode, the certificate
    /// as `debug-cert.pem` for `curl --cacert`.
    #[arg(long, env = "HOP_SERVER_STATE_DIR")]
    pub(crate) state_dir: Option<std::path::PathBuf>,
    /// Internal listener for `/metrics`, `/healthz`, `/readyz`.
    #[arg(long, env = "HOP_METRICS_LISTEN", default_value = "127.0.0.1:9100")]
    pub(crate) metrics_listen: SocketAddr,
    /// How long a visitor may take to send a request's headers.
    #[arg(long, env = "HOP_SERVER_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub(crate) header_timeout: Duration,
    /// On SIGTERM, how long requests in flight may take to finish before the pod exits.
    #[arg(long, env = "HOP_SERVER_DRAIN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub(crate) drain_timeout: Duration,
    /// Listener for requests other pods relay here (cross-pod routing), e.g.
    /// `0.0.0.0:8444`, or `off`. Default: `0.0.0.0:8444` in production, `off` in debug mode.
    #[arg(long, env = "HOP_SERVER_RELAY_LISTEN")]
    pub(crate) relay_listen: Option<String>,
    /// The URL other pods reach the relay listener at (`http://POD_IP:8444`); default: from
    /// the bound address, unless it is a wildcard (then the pod is no relay target).
    #[arg(long, env = "HOP_SERVER_RELAY_URL")]
    pub(crate) relay_url: Option<String>,
    /// How long a request may wait for the agent's response head.
    #[arg(long, env = "HOP_SERVER_RESPONSE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub(crate) response_timeout: Duration,
}

/// One `DOMAIN=KEY` entry of the development table.
#[derive(Clone)]
pub(crate) struct DevDomain {
    pub(crate) domain: String,
    pub(crate) key: String,
}

impl std::fmt::Debug for DevDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}=***", self.domain)
    }
}

impl FromStr for DevDomain {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (domain, key) = s.split_once('=').ok_or("expected DOMAIN=KEY")?;
        let domain = crate::host::normalize(domain).map_err(|e| format!("domain: {e}"))?;
        if key.len() < 16 {
            return Err("the key must be at least 16 characters".into());
        }
        Ok(Self {
            domain,
            key: key.to_owned(),
        })
    }
}

/// `500ms`, `30s`, `2m`, or plain seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 30s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("'{s}': unknown unit '{unit}' (use ms, s or m)")),
    }
}

impl Config {
    /// Where the relay listener binds, if anywhere.
    pub(crate) fn relay_listen(&self) -> Result<Option<SocketAddr>, String> {
        match self.relay_listen.as_deref().map(str::trim) {
            None if self.debug => Ok(None),
            None => Ok(Some(SocketAddr::from(([0, 0, 0, 0], 8444)))),
            Some("off" | "") => Ok(None),
            Some(addr) => addr.parse().map(Some).map_err(|_| {
                format!("HOP_SERVER_RELAY_LISTEN: '{addr}' is not a socket address or 'off'")
            }),
        }
    }

    /// Checks what clap can't: names the bad setting and why.
    pub(crate) fn validate(&self) -> Result<(), String> {
        crate::host::normalize(&self.domain)
            .map_err(|e| format!("HOP_SERVER_DOMAIN: '{}' {e}", self.domain))?;
        if !self.debug && self.control_plane_url.is_none() {
            return Err(
                "HOP_CONTROL_PLANE_URL: required unless HOP_SERVER_DEBUG=true \
                        (production certificates and domains come from the control-plane)"
                    .into(),
            );
        }
        if !self.debug && !self.dev_domains.is_empty() {
            return Err("HOP_DEV_DOMAINS: only with HOP_SERVER_DEBUG=true".into());
        }
        match (&self.control_plane_url, self.dev_domains.is_empty()) {
            (Some(_), false) => {
                return Err("HOP_DEV_DOMAINS: not used with HOP_CONTROL_PLANE_URL \
                            (the control-plane's table is the routing table); set one"
                    .into());
            }
            (Some(url), true) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!(
                        "HOP_CONTROL_PLANE_URL: '{url}' is not an http:// or https:// URL"
                    ));
                }
                if self.internal_token.as_deref().is_none_or(str::is_empty) {
                    return Err("HOP_INTERNAL_TOKEN: required with HOP_CONTROL_PLANE_URL".into());
                }
            }
            (None, _) => {}
        }
        if let Some(id) = &self.pod_id
            && !hopgate_table::valid_pod_id(id)
        {
            return Err(format!(
                "HOP_POD_ID: '{id}' must be 1-128 characters of A-Z a-z 0-9 . _ -"
            ));
        }
        if self.relay_listen()?.is_some() && self.control_plane_url.is_none() {
            return Err(
                "HOP_SERVER_RELAY_LISTEN: needs HOP_CONTROL_PLANE_URL (which says where \
                        sessions are); set it to 'off' without a control-plane"
                    .into(),
            );
        }
        if let Some(url) = &self.relay_url
            && !url.starts_with("http://")
        {
            return Err(format!(
                "HOP_SERVER_RELAY_URL: '{url}' is not an http:// URL"
            ));
        }
        if self.header_timeout.is_zero() {
            return Err("HOP_SERVER_HEADER_TIMEOUT: must be positive".into());
        }
        if self.response_timeout.is_zero() {
            return Err("HOP_SERVER_RESPONSE_TIMEOUT: must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_domain_parses_and_hides_the_key() {
        let d: DevDomain = "App.Example.COM=0123456789abcdef0123".parse().unwrap();
        assert_eq!(d.domain, "app.example.com");
        assert!(!format!("{d:?}").contains("0123456789"));
        assert!("app.example.com".parse::<DevDomain>().is_err());
        assert!("app.example.com=short".parse::<DevDomain>().is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn bad_address_names_the_setting() {
        let err = Config::try_parse_from(["dp", "--domain", "gw.test", "--https-listen", "abc"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("https-listen") || err.contains("HTTPS_LISTEN"),
            "{err}"
        );
    }

    #[test]
    fn production_mode_needs_the_control_plane() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["dp", "--domain", "gw.test"];
            args.extend_from_slice(extra);
            Config::try_parse_from(args).unwrap().validate()
        };
        assert!(parse(&[]).unwrap_err().starts_with("HOP_CONTROL_PLANE_URL"));
        let cp = [
            "--control-plane-url",
            "http://127.0.0.1:1",
            "--internal-token",
            "t",
        ];
        assert_eq!(parse(&cp), Ok(()));
        assert!(parse(&["--dev-domain", "a.test=0123456789abcdef"]).is_err());
    }

    #[test]
    fn a_control_plane_needs_its_token_and_excludes_the_dev_table() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["dp", "--domain", "gw.test", "--debug"];
            args.extend_from_slice(extra);
            Config::try_parse_from(args).unwrap().validate()
        };
        let url = ["--control-plane-url", "http://127.0.0.1:1"];
        let err = parse(&url).unwrap_err();
        assert!(err.starts_with("HOP_INTERNAL_TOKEN"), "{err}");
        let mut both = url.to_vec();
        both.extend([
            "--internal-token",
            "t0ken",
            "--dev-domain",
            "a.test=0123456789abcdef",
        ]);
        assert!(parse(&both).unwrap_err().starts_with("HOP_DEV_DOMAINS"));
        let err = parse(&["--control-plane-url", "ftp://x", "--internal-token", "t"]).unwrap_err();
        assert!(err.starts_with("HOP_CONTROL_PLANE_URL"), "{err}");
        let mut ok = url.to_vec();
        ok.extend(["--internal-token", "t0ken"]);
        let mut bad = ok.clone();
        ok.extend(["--pod-id", "pod-1"]);
        assert_eq!(parse(&ok), Ok(()));
        bad.extend(["--pod-id", "bad pod"]);
        assert!(parse(&bad).unwrap_err().starts_with("HOP_POD_ID"));
    }

    #[test]
    fn the_relay_listener_is_on_in_production_and_checked() {
        let config = |extra: &[&str]| {
            let mut args = vec!["dp", "--domain", "gw.test"];
            args.extend_from_slice(extra);
            Config::try_parse_from(args).unwrap()
        };
        let cp = [
            "--control-plane-url",
            "http://127.0.0.1:1",
            "--internal-token",
            "t",
        ];
        let production = config(&cp);
        assert_eq!(
            production.relay_listen(),
            Ok(Some("0.0.0.0:8444".parse().unwrap()))
        );
        assert_eq!(config(&["--debug"]).relay_listen(), Ok(None));
        let mut off = cp.to_vec();
        off.extend(["--relay-listen", "off"]);
        assert_eq!(config(&off).relay_listen(), Ok(None));
        let mut bad = cp.to_vec();
        bad.extend(["--relay-listen", "nope"]);
        assert!(
            config(&bad)
                .validate()
                .unwrap_err()
                .starts_with("HOP_SERVER_RELAY_LISTEN")
        );
        let err = config(&["--debug", "--relay-listen", "127.0.0.1:0"])
            .validate()
            .unwrap_err();
        assert!(err.starts_with("HOP_SERVER_RELAY_LISTEN"), "{err}");
        let mut url = cp.to_vec();
        url.extend(["--relay-url", "ftp://x"]);
        assert!(
            config(&url)
                .validate()
                .unwrap_err()
                .starts_with("HOP_SERVER_RELAY_URL")
        );
    }
}
