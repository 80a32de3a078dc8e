//! The control-plane's settings as the process runs on them, and [`Config::validate`],
//! which names the bad setting (by its `HOP_…` variable; `settings` turns that into where
//! the value came from) and why. `settings` reads them (file, variables, flags).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use ipnet::IpNet;

use crate::{acme::AcmeSettings, domain_name};

/// The shortest admin key and internal token accepted.
pub(crate) const MIN_SECRET_LEN: usize = 16;

/// `HOP_ADMIN_ACCESS_MAX_ENTRIES`'s default: the most users, allowed ranges and denied
/// ranges (each) in one domain's access policy.
pub(crate) const DEFAULT_ACCESS_MAX_ENTRIES: usize = 100;
/// The highest `HOP_ADMIN_ACCESS_MAX_ENTRIES` accepted: policies travel in the table to
/// every pod, and a snapshot frame holds up to 512 domains in at most 16 MiB.
pub(crate) const MAX_ACCESS_MAX_ENTRIES: usize = 1000;

pub(crate) use hopgate_settings::Secret;

/// Database settings (names and meaning from the Go prototype).
#[derive(Debug, Clone)]
pub(crate) struct DbConfig {
    /// `HOP_DB_DSN`: `postgres://…` or `sqlite://…`; `None` = `hopgate.db` in the state dir.
    pub(crate) dsn: Option<Secret>,
    /// `HOP_DB_MAX_OPEN_CONNS`: pool size (default 10).
    pub(crate) max_open: u32,
    /// `HOP_DB_MAX_IDLE_CONNS`: connections kept open while idle (default 2).
    pub(crate) max_idle: u32,
    /// `HOP_DB_CONN_MAX_LIFETIME`: a connection is closed after this long (default 30m;
    /// `0` = no limit).
    pub(crate) max_lifetime: Option<Duration>,
    /// `HOP_DB_ACQUIRE_TIMEOUT`: how long a request waits for a connection before the
    /// database counts as unavailable (503) (default 5s).
    pub(crate) acquire_timeout: Duration,
}

/// A certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// All settings.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) db: DbConfig,
    /// `HOP_SERVER_STATE_DIR` (default `./state`): where the embedded SQLite file lives.
    pub(crate) state_dir: PathBuf,
    /// `HOP_ADMIN_LISTEN` (default `127.0.0.1:8081`).
    pub(crate) admin_listen: SocketAddr,
    /// `HOP_ADMIN_API_KEY` (required, ≥ 16 characters).
    pub(crate) admin_api_key: Secret,
    /// `HOP_ADMIN_ALLOW_IPS`: comma-separated CIDRs (or plain addresses); empty = anyone.
    pub(crate) admin_allow_ips: Vec<IpNet>,
    /// `HOP_ADMIN_ACCESS_MAX_ENTRIES` (default 100): the most entries in each list of a
    /// domain's access policy.
    pub(crate) admin_access_max_entries: usize,
    /// `HOP_INTERNAL_LISTEN` (default `127.0.0.1:8082`): where pods subscribe.
    pub(crate) internal_listen: SocketAddr,
    /// `HOP_INTERNAL_TOKEN` (required, ≥ 16 characters).
    pub(crate) internal_token: Secret,
    /// `HOP_INTERNAL_TLS_CERT` and `HOP_INTERNAL_TLS_KEY`: the internal listener serves
    /// HTTPS with them; `None` = plain HTTP.
    pub(crate) internal_tls: Option<TlsFiles>,
    /// `HOP_METRICS_LISTEN` (optional): `/metrics`, `/healthz`, `/readyz`.
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// `HOP_SERVER_DOMAIN` (optional, normalized by `validate`): the main domain, whose
    /// certificate ACME orders too.
    pub(crate) server_domain: Option<String>,
    /// `HOP_ACME_…`: `None` = ACME off.
    pub(crate) acme: Option<AcmeSettings>,
}

/// A setting that is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {reason}")]
pub(crate) struct ConfigError {
    pub(crate) var: &'static str,
    pub(crate) reason: String,
}

impl ConfigError {
    pub(crate) fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

fn bad(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(var, reason)
}

impl Config {
    /// Checks what parsing can't: names the bad setting and why; normalizes
    /// `HOP_SERVER_DOMAIN`.
    pub(crate) fn validate(&mut self) -> Result<(), ConfigError> {
        if let Some(domain) = &self.server_domain {
            let normalized = domain_name::from_unicode(domain)
                .map_err(|why| bad("HOP_SERVER_DOMAIN", format!("'{domain}' {why}")))?;
            self.server_domain = Some(normalized);
        }
        if let Some(acme) = &self.acme {
            acme.validate()?;
        }
        check_secret(
            "HOP_ADMIN_API_KEY",
            &self.admin_api_key,
            "the admin API's bearer key",
        )?;
        check_secret(
            "HOP_INTERNAL_TOKEN",
            &self.internal_token,
            "the token pods present",
        )?;
        if self.admin_api_key == self.internal_token {
            return Err(bad(
                "HOP_INTERNAL_TOKEN",
                "must differ from HOP_ADMIN_API_KEY (pods must not hold the admin key)",
            ));
        }
        if let Some(dsn) = &self.db.dsn {
            check_dsn(dsn.expose())?;
        }
        if !(1..=MAX_ACCESS_MAX_ENTRIES).contains(&self.admin_access_max_entries) {
            return Err(bad(
                "HOP_ADMIN_ACCESS_MAX_ENTRIES",
                format!("must be from 1 to {MAX_ACCESS_MAX_ENTRIES}"),
            ));
        }
        if self.db.max_open == 0 {
            return Err(bad("HOP_DB_MAX_OPEN_CONNS", "must be at least 1"));
        }
        if self.db.max_idle > self.db.max_open {
            return Err(bad(
                "HOP_DB_MAX_IDLE_CONNS",
                format!(
                    "must not exceed HOP_DB_MAX_OPEN_CONNS ({})",
                    self.db.max_open
                ),
            ));
        }
        if self.db.acquire_timeout.is_zero() {
            return Err(bad("HOP_DB_ACQUIRE_TIMEOUT", "must be positive"));
        }
        Ok(())
    }
}

fn check_secret(var: &'static str, secret: &Secret, what: &str) -> Result<(), ConfigError> {
    let len = secret.expose().chars().count();
    if len == 0 {
        return Err(bad(
            var,
            format!("required ({what}, at least {MIN_SECRET_LEN} characters)"),
        ));
    }
    if len < MIN_SECRET_LEN {
        return Err(bad(
            var,
            format!("too short: {len} characters, at least {MIN_SECRET_LEN} needed"),
        ));
    }
    if secret
        .expose()
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad(var, "must not contain spaces or control characters"));
    }
    Ok(())
}

fn check_dsn(dsn: &str) -> Result<(), ConfigError> {
    let scheme = dsn.split_once(':').map_or("", |(s, _)| s);
    match scheme {
        "postgres" | "postgresql" if dsn.contains("://") => Ok(()),
        "sqlite" if dsn.contains(":memory:") || dsn.contains("mode=memory") => Err(bad(
            "HOP_DB_DSN",
            "an in-memory SQLite database would be lost on restart; give a file",
        )),
        "sqlite" => Ok(()),
        _ => Err(bad(
            "HOP_DB_DSN",
            format!("must start with postgres:// or sqlite:// (scheme is '{scheme}')"),
        )),
    }
}

/// A CIDR (`10.0.0.0/8`, `::1/128`) or a plain address (a single host).
pub(crate) fn parse_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{s}' is not a CIDR like 10.0.0.0/8 or an IP address"))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
