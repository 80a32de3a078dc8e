//! How the control-plane's settings are read: the table of settings (TOML key, `HOP_…`
//! variable, flag), the file-shaped [`Settings`] that `hopgate-settings` layers (defaults <
//! `--config` file < variables < flags), and its conversion into the [`Config`] the
//! process runs on. Errors name the variable, flag or `file: key` that set the bad value.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use hopgate_settings::{Env, LogLevel, Secret, Setting, SettingsError, Spec, values};
use serde::{Deserialize, Serialize};

use crate::{
    acme::{AcmeSettings, DEFAULT_RETRY_MAX, DEFAULT_RETRY_MIN},
    config::{Config, ConfigError, DEFAULT_ACCESS_MAX_ENTRIES, DbConfig, TlsFiles, parse_net},
};

const SETTINGS: &[Setting] = &[
    Setting::value(
        "state_dir",
        "HOP_SERVER_STATE_DIR",
        "Where the embedded SQLite file lives [default: ./state]",
    ),
    Setting::value(
        "domain",
        "HOP_SERVER_DOMAIN",
        "The gateway's main domain (ACME orders its certificate)",
    ),
    Setting::value(
        "admin_listen",
        "HOP_ADMIN_LISTEN",
        "The admin API [default: 127.0.0.1:8081]",
    ),
    Setting::value(
        "admin_api_key",
        "HOP_ADMIN_API_KEY",
        "The admin API's bearer key, 16+ characters (secret, required)",
    ),
    Setting::list(
        "admin_allow_ips",
        "HOP_ADMIN_ALLOW_IPS",
        "CIDRs or addresses allowed to call the admin API [default: anyone]",
    ),
    Setting::value(
        "admin_access_max_entries",
        "HOP_ADMIN_ACCESS_MAX_ENTRIES",
        "The most users, allowed ranges and denied ranges (each) in a domain's access policy \
         [default: 100]",
    ),
    Setting::value(
        "internal_listen",
        "HOP_INTERNAL_LISTEN",
        "Where data-plane pods subscribe [default: 127.0.0.1:8082]",
    ),
    Setting::value(
        "internal_token",
        "HOP_INTERNAL_TOKEN",
        "The pods' bearer token, 16+ characters (secret, required)",
    ),
    Setting::value(
        "internal_tls_cert",
        "HOP_INTERNAL_TLS_CERT",
        "PEM certificate chain: the internal listener serves HTTPS [default: plain HTTP]",
    ),
    Setting::value(
        "internal_tls_key",
        "HOP_INTERNAL_TLS_KEY",
        "PEM private key of HOP_INTERNAL_TLS_CERT (a file only the control-plane reads)",
    ),
    Setting::value(
        "metrics_listen",
        "HOP_METRICS_LISTEN",
        "/metrics, /healthz, /readyz [default: off]",
    ),
    Setting::value(
        "log_level",
        "HOP_LOG_LEVEL",
        "error, warn, info or debug [default: info]",
    ),
    Setting::value(
        "db.dsn",
        "HOP_DB_DSN",
        "postgres://… or sqlite://… (secret) [default: hopgate.db in the state dir]",
    ),
    Setting::value(
        "db.max_open_conns",
        "HOP_DB_MAX_OPEN_CONNS",
        "Pool size [default: 10]",
    ),
    Setting::value(
        "db.max_idle_conns",
        "HOP_DB_MAX_IDLE_CONNS",
        "Connections kept while idle [default: 2]",
    ),
    Setting::value(
        "db.conn_max_lifetime",
        "HOP_DB_CONN_MAX_LIFETIME",
        "A connection is closed after this long; 0 = no limit [default: 30m]",
    ),
    Setting::value(
        "db.acquire_timeout",
        "HOP_DB_ACQUIRE_TIMEOUT",
        "How long a request waits for a connection [default: 5s]",
    ),
    Setting::value(
        "acme.dir",
        "HOP_ACME_DIR",
        "ACME directory URL (https://); unset = ACME off",
    ),
    Setting::value("acme.email", "HOP_ACME_EMAIL", "The ACME account's contact"),
    Setting::value(
        "acme.ca_root",
        "HOP_ACME_CA_ROOT",
        "A PEM root for the directory's HTTPS (test CAs)",
    ),
    Setting::value(
        "acme.renew_before",
        "HOP_ACME_RENEW_BEFORE",
        "Renew when less than this is left [default: a third of the lifetime]",
    ),
    Setting::value(
        "acme.retry_min",
        "HOP_ACME_RETRY_MIN",
        "First retry after a failed order [default: 30s]",
    ),
    Setting::value(
        "acme.retry_max",
        "HOP_ACME_RETRY_MAX",
        "Longest wait between retries [default: 1h]",
    ),
];

/// The control-plane's command line and settings.
pub(crate) const SPEC: Spec = Spec::new(
    "hopgate-control-plane",
    "HopGate control-plane: the database, the admin API, and the table pushed to pods. \
     `hopgate-control-plane admin --help`: the command line over a running one's admin API",
    SETTINGS,
);

/// The settings as a file holds them (field = TOML key).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Settings {
    state_dir: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(with = "values::socket_addr")]
    admin_listen: SocketAddr,
    admin_api_key: Secret,
    admin_allow_ips: Vec<String>,
    admin_access_max_entries: usize,
    #[serde(with = "values::socket_addr")]
    internal_listen: SocketAddr,
    internal_token: Secret,
    #[serde(skip_serializing_if = "Option::is_none")]
    internal_tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    internal_tls_key: Option<PathBuf>,
    #[serde(
        with = "values::opt_socket_addr",
        skip_serializing_if = "Option::is_none"
    )]
    metrics_listen: Option<SocketAddr>,
    pub(crate) log_level: LogLevel,
    db: DbSettings,
    acme: AcmeFile,
}

/// `[db]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DbSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    dsn: Option<Secret>,
    max_open_conns: u32,
    max_idle_conns: u32,
    #[serde(with = "values::duration")]
    conn_max_lifetime: Duration,
    #[serde(with = "values::duration")]
    acquire_timeout: Duration,
}

/// `[acme]`: off unless `dir` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AcmeFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_root: Option<PathBuf>,
    #[serde(with = "values::opt_duration", skip_serializing_if = "Option::is_none")]
    renew_before: Option<Duration>,
    #[serde(with = "values::duration")]
    retry_min: Duration,
    #[serde(with = "values::duration")]
    retry_max: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        let localhost = |port| SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            state_dir: PathBuf::from("./state"),
            domain: None,
            admin_listen: localhost(8081),
            admin_api_key: Secret::default(),
            admin_allow_ips: Vec::new(),
            admin_access_max_entries: DEFAULT_ACCESS_MAX_ENTRIES,
            internal_listen: localhost(8082),
            internal_token: Secret::default(),
            internal_tls_cert: None,
            internal_tls_key: None,
            metrics_listen: None,
            log_level: LogLevel::Info,
            db: DbSettings::default(),
            acme: AcmeFile::default(),
        }
    }
}

impl Default for DbSettings {
    fn default() -> Self {
        Self {
            dsn: None,
            max_open_conns: 10,
            max_idle_conns: 2,
            conn_max_lifetime: Duration::from_secs(30 * 60),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl Default for AcmeFile {
    fn default() -> Self {
        Self {
            dir: None,
            email: None,
            ca_root: None,
            renew_before: None,
            retry_min: DEFAULT_RETRY_MIN,
            retry_max: DEFAULT_RETRY_MAX,
        }
    }
}

/// What the process does after reading its settings.
#[derive(Debug)]
pub(crate) enum Start {
    /// Run with these settings (already validated) and log level.
    Run(Box<Config>, LogLevel),
    /// `--print-config`: print this TOML and exit.
    Print(String),
}

/// Reads the command line and `env` (and the file they name), converts and validates.
pub(crate) fn load(
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
    env: &dyn Env,
) -> Result<Start, SettingsError> {
    let loaded = SPEC.load::<Settings>(args, env)?;
    let checked = loaded
        .value
        .clone()
        .into_config()
        .and_then(|mut config| config.validate().map(|()| config));
    let config = checked.map_err(|e| loaded.invalid(e.var, e.reason))?;
    if loaded.print_config {
        return loaded.to_toml().map(Start::Print);
    }
    Ok(Start::Run(Box::new(config), loaded.value.log_level))
}

impl Settings {
    /// The runtime form (parse errors only; see [`Config::validate`]).
    fn into_config(self) -> Result<Config, ConfigError> {
        let admin_allow_ips = self
            .admin_allow_ips
            .iter()
            .map(|s| parse_net(s.trim()).map_err(|e| ConfigError::new("HOP_ADMIN_ALLOW_IPS", e)))
            .collect::<Result<_, _>>()?;
        let acme = self.acme.dir.map(|directory| AcmeSettings {
            directory,
            email: self.acme.email,
            ca_root: self.acme.ca_root,
            renew_before: self.acme.renew_before,
            retry_min: self.acme.retry_min,
            retry_max: self.acme.retry_max,
        });
        let internal_tls = match (self.internal_tls_cert, self.internal_tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "HOP_INTERNAL_TLS_KEY",
                    "required with HOP_INTERNAL_TLS_CERT",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "HOP_INTERNAL_TLS_CERT",
                    "required with HOP_INTERNAL_TLS_KEY",
                ));
            }
        };
        let lifetime = self.db.conn_max_lifetime;
        Ok(Config {
            db: DbConfig {
                dsn: self.db.dsn,
                max_open: self.db.max_open_conns,
                max_idle: self.db.max_idle_conns,
                max_lifetime: (!lifetime.is_zero()).then_some(lifetime),
                acquire_timeout: self.db.acquire_timeout,
            },
            state_dir: self.state_dir,
            admin_listen: self.admin_listen,
            admin_api_key: self.admin_api_key,
            admin_allow_ips,
            admin_access_max_entries: self.admin_access_max_entries,
            internal_listen: self.internal_listen,
            internal_token: self.internal_token,
            internal_tls,
            metrics_listen: self.metrics_listen,
            server_domain: self.domain,
            acme,
        })
    }
}
