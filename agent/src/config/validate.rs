//! [`Config::validate`]: from merged values to [`Settings`] the agent can run with, or the
//! first [`ConfigError`] found.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use hopgate_transport::{ClientConfig, Fingerprint, ServerVerification};

use super::{ApiKey, Config, ConfigError, LocalTarget, ServerAddr, Source, Sourced};

/// How long the local service may take to start answering, unless configured.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest response timeout accepted: a day.
const MAX_RESPONSE_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// How the agent checks that it reached the real gateway. There is no "don't check".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The gateway's certificate must have this SHA-256 fingerprint (debug mode only).
    Pinned(Fingerprint),
    /// The certificate must chain to a CA in this PEM file and carry the server name.
    CaFile {
        /// Where the CAs came from.
        path: PathBuf,
        /// The file's contents, read (and checked) during validation.
        pem: Vec<u8>,
    },
    /// The certificate must chain to one of the system's roots and carry the server name.
    SystemRoots,
}

/// One domain served from one local service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSettings {
    /// The public domain, lower case.
    pub domain: String,
    /// The domain's client API key.
    pub api_key: ApiKey,
    /// The local service.
    pub target: LocalTarget,
}

/// Everything the agent runs with, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The gateway's data-plane address.
    pub server: ServerAddr,
    /// The name the gateway's certificate must carry (DTLS server name).
    pub server_name: String,
    /// How the gateway's certificate is checked.
    pub verification: Verification,
    /// How long the local service may take to start its response.
    pub response_timeout: Duration,
    /// Log every request, not only failures.
    pub verbose: bool,
    /// Where `/metrics`, `/healthz` and `/readyz` are served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// The lowest log level written.
    pub log_level: slog::Level,
    /// The tunnels, one session each; at least one, domains distinct.
    pub tunnels: Vec<TunnelSettings>,
}

impl Settings {
    /// The transport's client configuration. Loads the system's roots when no fingerprint
    /// or CA file was given; fails (naming `ca_file`) if there are none.
    pub fn client_config(&self) -> Result<ClientConfig, ConfigError> {
        let verification = match &self.verification {
            Verification::Pinned(fingerprint) => ServerVerification::Pinned(*fingerprint),
            Verification::CaFile { path, pem } => ServerVerification::ca_pem(pem).map_err(|e| {
                ConfigError::new("ca_file", None, format!("{}: {}", path.display(), e.reason))
            })?,
            Verification::SystemRoots => ServerVerification::system_roots()
                .map_err(|e| ConfigError::new(e.field, None, e.reason))?,
        };
        Ok(ClientConfig::new(self.server_name.clone(), verification))
    }
}

fn origin<T>(value: &Option<Sourced<T>>) -> Option<Source> {
    value.as_ref().map(|v| v.source.clone())
}

impl Config {
    /// Checks every setting and their combinations; the error names the first bad field,
    /// where its value came from, and why.
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let server_addr = self.server_addr.as_ref().ok_or_else(|| {
            ConfigError::new(
                "server_addr",
                None,
                "missing; give --server, HOP_CLIENT_SERVER_ADDR or server_addr in the config file",
            )
        })?;
        let server = ServerAddr::parse(&server_addr.value).map_err(|why| {
            ConfigError::new("server_addr", Some(server_addr.source.clone()), why)
        })?;

        let server_name = match &self.server_name {
            None => server.host().to_owned(),
            Some(name) => {
                let value = name.value.trim();
                if value.is_empty() || value.contains(char::is_whitespace) || value.contains('/') {
                    return Err(ConfigError::new(
                        "server_name",
                        Some(name.source.clone()),
                        format!("{:?} is not a host name", name.value),
                    ));
                }
                value.to_owned()
            }
        };

        let verification = self.verification()?;

        let response_timeout = match &self.response_timeout_secs {
            None => DEFAULT_RESPONSE_TIMEOUT,
            Some(Sourced {
                value: secs @ 1..=MAX_RESPONSE_TIMEOUT_SECS,
                ..
            }) => Duration::from_secs(*secs),
            Some(Sourced { value, source }) => {
                return Err(ConfigError::new(
                    "response_timeout_secs",
                    Some(source.clone()),
                    format!("{value} is outside 1..={MAX_RESPONSE_TIMEOUT_SECS} seconds"),
                ));
            }
        };

        if self.tunnels.is_empty() {
            return Err(ConfigError::new(
                "tunnel",
                None,
                "no tunnel to serve; run `hopgate-agent http <TARGET> --domain DOMAIN --key KEY` \
                 or list [[tunnel]] entries in the config file",
            ));
        }
        let several = self.tunnels.len() > 1;
        let mut tunnels: Vec<TunnelSettings> = Vec::with_capacity(self.tunnels.len());
        for (i, tunnel) in self.tunnels.iter().enumerate() {
            // `domain` for the usual single tunnel; `tunnel[2].domain` in a list (from 1).
            let field = |name: &str| {
                if several {
                    format!("tunnel[{}].{name}", i + 1)
                } else {
                    name.to_owned()
                }
            };
            let domain = tunnel.domain.as_ref().ok_or_else(|| {
                ConfigError::new(
                    field("domain"),
                    None,
                    "missing; give --domain, HOP_CLIENT_DOMAIN or domain in a [[tunnel]] of the config file",
                )
            })?;
            let domain_value = check_domain(&domain.value).map_err(|why| {
                ConfigError::new(field("domain"), Some(domain.source.clone()), why)
            })?;
            if let Some(j) = tunnels.iter().position(|t| t.domain == domain_value) {
                return Err(ConfigError::new(
                    field("domain"),
                    Some(domain.source.clone()),
                    format!("{domain_value} is already served by tunnel[{}]", j + 1),
                ));
            }
            let api_key = tunnel.api_key.as_ref().ok_or_else(|| {
                ConfigError::new(
                    field("api_key"),
                    None,
                    format!(
                        "missing for {domain_value}; give --key, HOP_CLIENT_API_KEY or api_key in \
                         a [[tunnel]] of the config file"
                    ),
                )
            })?;
            let key = api_key.value.expose();
            if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ConfigError::new(
                    field("api_key"),
                    Some(api_key.source.clone()),
                    "empty or holds whitespace; paste the key exactly as the gateway's admin gave it",
                ));
            }
            let target = tunnel.local_target.as_ref().ok_or_else(|| {
                ConfigError::new(
                    field("local_target"),
                    None,
                    format!(
                        "missing for {domain_value}; give TARGET (`hopgate-agent http 3000`), \
                         HOP_CLIENT_LOCAL_TARGET or local_target in a [[tunnel]] of the config file"
                    ),
                )
            })?;
            let target_value = LocalTarget::parse(&target.value).map_err(|why| {
                ConfigError::new(field("local_target"), Some(target.source.clone()), why)
            })?;
            tunnels.push(TunnelSettings {
                domain: domain_value,
                api_key: api_key.value.clone(),
                target: target_value,
            });
        }

        Ok(Settings {
            server,
            server_name,
            verification,
            response_timeout,
            verbose: self.verbose.as_ref().is_some_and(|v| v.value),
            metrics_listen: super::observability::metrics_listen(self.metrics_listen.as_ref())?,
            log_level: super::observability::log_level(self.log_level.as_ref())?,
            tunnels,
        })
    }

    /// Debug mode pins a fingerprint; otherwise a fingerprint, a CA file or the system's
    /// roots. Never silently nothing.
    fn verification(&self) -> Result<Verification, ConfigError> {
        let debug = self.debug.as_ref().is_some_and(|d| d.value);
        match (&self.server_fingerprint, &self.ca_file) {
            (Some(_), Some(ca)) => Err(ConfigError::new(
                "ca_file",
                Some(ca.source.clone()),
                format!(
                    "give server_fingerprint or ca_file, not both (server_fingerprint came from {})",
                    origin(&self.server_fingerprint).map_or_else(String::new, |s| s.to_string())
                ),
            )),
            // A pin replaces chain-and-name verification: only for a debug gateway's
            // self-signed certificate, never in production.
            (Some(fp), None) if !debug => Err(ConfigError::new(
                "server_fingerprint",
                Some(fp.source.clone()),
                "pinning is for debug mode only (a gateway with a self-signed certificate; \
                 add --debug / HOP_CLIENT_DEBUG=true); in production the agent verifies the \
                 gateway's chain and name against the system's roots or ca_file"
                    .to_owned(),
            )),
            (Some(fp), None) => Fingerprint::parse(&fp.value)
                .map(Verification::Pinned)
                .map_err(|e| {
                    ConfigError::new("server_fingerprint", Some(fp.source.clone()), e.to_string())
                }),
            (None, _) if debug => Err(ConfigError::new(
                "server_fingerprint",
                None,
                format!(
                    "required in debug mode (debug is on, from {}): the gateway's certificate is \
                     self-signed, so the agent pins it; the data-plane prints its fingerprint at \
                     start (give --fingerprint or HOP_CLIENT_SERVER_FINGERPRINT)",
                    origin(&self.debug).map_or_else(String::new, |s| s.to_string())
                ),
            )),
            (None, Some(ca)) => match std::fs::read(&ca.value) {
                Err(e) => Err(ConfigError::new(
                    "ca_file",
                    Some(ca.source.clone()),
                    format!("cannot read {}: {e}", ca.value.display()),
                )),
                Ok(pem) => match ServerVerification::ca_pem(&pem) {
                    Err(e) => Err(ConfigError::new(
                        "ca_file",
                        Some(ca.source.clone()),
                        format!("{}: {}", ca.value.display(), e.reason),
                    )),
                    Ok(_) => Ok(Verification::CaFile {
                        path: ca.value.clone(),
                        pem,
                    }),
                },
            },
            (None, None) => Ok(Verification::SystemRoots),
        }
    }
}

/// A domain name as the gateway knows it: lower case, dot-separated labels of letters,
/// digits and hyphens.
fn check_domain(text: &str) -> Result<String, String> {
    let domain = text.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.contains("://") {
        return Err(format!(
            "{text:?}: give the bare domain name, without a scheme"
        ));
    }
    if domain.is_empty() || domain.len() > 253 {
        return Err(format!(
            "{text:?} is not a domain name (1 to 253 characters)"
        ));
    }
    for label in domain.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(format!(
                "{text:?} is not a domain name (labels of letters, digits and '-', e.g. app.example.com)"
            ));
        }
    }
    Ok(domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TunnelLayer;

    fn flag<T>(value: T, name: &'static str) -> Option<Sourced<T>> {
        Some(Sourced::new(value, Source::Flag(name)))
    }

    fn good() -> Config {
        Config {
            server_addr: flag("127.0.0.1:4433".into(), "--server"),
            server_fingerprint: flag("AB:".repeat(31) + "AB", "--fingerprint"),
            debug: flag(true, "--debug"),
            tunnels: vec![TunnelLayer {
                domain: flag("app.example.com".into(), "--domain"),
                api_key: flag(ApiKey::new("k-123"), "--key"),
                local_target: flag("3000".into(), "TARGET"),
            }],
            ..Config::default()
        }
    }

    fn refused(config: &Config) -> ConfigError {
        config.validate().expect_err("should be refused")
    }

    #[test]
    fn a_good_config() {
        let settings = good().validate().unwrap();
        assert_eq!(settings.server_name, "127.0.0.1");
        assert_eq!(settings.response_timeout, DEFAULT_RESPONSE_TIMEOUT);
        assert_eq!(settings.tunnels[0].target.authority(), "127.0.0.1:3000");
        assert!(matches!(settings.verification, Verification::Pinned(_)));
        assert!(!format!("{settings:?}").contains("k-123"), "{settings:?}");
    }

    #[test]
    fn each_bad_field_is_named_with_its_source() {
        type Change = fn(&mut Config);
        let cases: Vec<(Change, &str, &str)> = vec![
            (|c| c.server_addr = None, "server_addr", "missing"),
            (
                |c| c.server_addr = flag("gw:http".into(), "--server"),
                "server_addr",
                "not a number",
            ),
            (
                |c| c.server_name = flag("a b".into(), "--server-name"),
                "server_name",
                "not a host name",
            ),
            (
                |c| c.server_fingerprint = flag("abc".into(), "--fingerprint"),
                "server_fingerprint",
                "64 hex digits",
            ),
            (
                |c| c.ca_file = flag("/nonexistent.pem".into(), "--ca-file"),
                "ca_file",
                "not both",
            ),
            (
                |c| c.response_timeout_secs = flag(0, "--response-timeout"),
                "response_timeout_secs",
                "outside",
            ),
            (|c| c.tunnels.clear(), "tunnel", "no tunnel"),
            (|c| c.tunnels[0].domain = None, "domain", "missing"),
            (
                |c| c.tunnels[0].domain = flag("https://app.example.com".into(), "--domain"),
                "domain",
                "without a scheme",
            ),
            (
                |c| c.tunnels[0].domain = flag("app_example.com".into(), "--domain"),
                "domain",
                "not a domain",
            ),
            (
                |c| c.tunnels[0].api_key = None,
                "api_key",
                "missing for app.example.com",
            ),
            (
                |c| c.tunnels[0].api_key = flag(ApiKey::new("a b"), "--key"),
                "api_key",
                "whitespace",
            ),
            (
                |c| c.tunnels[0].local_target = flag("localhost".into(), "TARGET"),
                "local_target",
                "no port",
            ),
        ];
        for (change, field, why) in cases {
            let mut config = good();
            change(&mut config);
            let err = refused(&config);
            assert_eq!(err.field, field, "{err}");
            assert!(err.reason.contains(why), "{field}: {err}");
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("invalid configuration: {field}")),
                "{text}"
            );
            if let Some(origin) = &err.origin {
                assert!(text.contains(&format!("(from {origin})")), "{text}");
            }
        }
    }

    #[test]
    fn debug_requires_a_fingerprint() {
        let mut config = good();
        config.server_fingerprint = None;
        config.debug = Some(Sourced::new(true, Source::Env("HOP_CLIENT_DEBUG")));
        let err = refused(&config);
        assert_eq!(err.field, "server_fingerprint");
        assert!(err.to_string().contains("HOP_CLIENT_DEBUG"), "{err}");
        assert!(err.reason.contains("debug mode"), "{err}");
        // Without debug and without a pin, the system's roots (never nothing).
        config.debug = None;
        let mut pinned = config.clone();
        pinned.server_fingerprint = flag("AB:".repeat(31) + "AB", "--fingerprint");
        let err = refused(&pinned);
        assert_eq!(err.field, "server_fingerprint");
        assert!(err.reason.contains("debug mode only"), "{err}");
        assert_eq!(
            config.validate().unwrap().verification,
            Verification::SystemRoots
        );
    }

    #[test]
    fn a_ca_file_is_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("hopgate-ca-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let mut config = good();
        config.server_fingerprint = None;
        config.debug = None;
        config.ca_file = flag(path.clone(), "--ca-file");
        let err = refused(&config);
        assert_eq!(err.field, "ca_file");
        assert!(err.reason.contains("ca.pem"), "{err}");
        let identity = hopgate_transport::Identity::self_signed(&["gw.test".into()]).unwrap();
        std::fs::write(&path, identity.chain_pem()).unwrap();
        let settings = config.validate().unwrap();
        assert!(
            matches!(&settings.verification, Verification::CaFile { path: p, .. } if *p == path)
        );
        settings.client_config().unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn tunnels_in_a_list_are_named_by_position() {
        let mut config = good();
        let mut second = config.tunnels[0].clone();
        second.domain = flag("APP.example.com".into(), "--domain");
        config.tunnels.push(second);
        let err = refused(&config);
        assert_eq!(err.field, "tunnel[2].domain");
        assert!(err.reason.contains("already served by tunnel[1]"), "{err}");
        config.tunnels[1].domain = flag("api.example.com".into(), "--domain");
        config.tunnels[1].local_target = None;
        assert_eq!(refused(&config).field, "tunnel[2].local_target");
    }

    #[test]
    fn domains_are_normalised() {
        assert_eq!(
            check_domain(" App.Example.COM. ").unwrap(),
            "app.example.com"
        );
        assert_eq!(check_domain("localhost").unwrap(), "localhost");
        for bad in ["", "a..b", "-a.b", "a-.b", "a/b", "a:80", &"x".repeat(64)] {
            assert!(check_domain(bad).is_err(), "{bad:?}");
        }
    }
}
