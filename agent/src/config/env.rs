//! `HOP_CLIENT_*` environment variables, read through the [`Env`] trait so tests can pass a
//! map instead of touching the process environment.

use std::{borrow::Borrow, collections::HashMap, hash::Hash, path::PathBuf};

use super::{ApiKey, ConfigError, Layer, Source, Sourced, TunnelLayer};

/// The gateway's data-plane address.
pub const SERVER_ADDR: &str = "HOP_CLIENT_SERVER_ADDR";
/// The domain to serve.
pub const DOMAIN: &str = "HOP_CLIENT_DOMAIN";
/// The domain's client API key.
pub const API_KEY: &str = "HOP_CLIENT_API_KEY";
/// The local service.
pub const LOCAL_TARGET: &str = "HOP_CLIENT_LOCAL_TARGET";
/// Debug mode (`true`/`false`).
pub const DEBUG: &str = "HOP_CLIENT_DEBUG";
/// The pinned certificate fingerprint.
pub const SERVER_FINGERPRINT: &str = "HOP_CLIENT_SERVER_FINGERPRINT";
/// A CA file to trust.
pub const CA_FILE: &str = "HOP_CLIENT_CA_FILE";
/// The name the gateway's certificate must carry.
pub const SERVER_NAME: &str = "HOP_CLIENT_SERVER_NAME";
/// Seconds the local service may take to start its response.
pub const RESPONSE_TIMEOUT_SECS: &str = "HOP_CLIENT_RESPONSE_TIMEOUT_SECS";
/// Log every request.
pub const VERBOSE: &str = "HOP_CLIENT_VERBOSE";
/// The config file.
pub const CONFIG: &str = "HOP_CLIENT_CONFIG";
/// The metrics listener (the same name on every HopGate process).
pub const METRICS_LISTEN: &str = "HOP_METRICS_LISTEN";
/// The lowest log level written.
pub const LOG_LEVEL: &str = "HOP_LOG_LEVEL";

/// Somewhere to read environment variables from.
pub trait Env {
    /// The variable's value, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process's environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

impl<K, V> Env for HashMap<K, V>
where
    K: Borrow<str> + Hash + Eq,
    V: AsRef<str>,
{
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.as_ref().to_owned())
    }
}

/// A variable's value; set but empty counts as unset (as compose files often leave them).
fn get(env: &dyn Env, name: &'static str) -> Option<Sourced<String>> {
    env.var(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .map(|v| Sourced::new(v, Source::Env(name)))
}

fn get_bool(
    env: &dyn Env,
    name: &'static str,
    field: &str,
) -> Result<Option<Sourced<bool>>, ConfigError> {
    let Some(raw) = get(env, name) else {
        return Ok(None);
    };
    let value = match raw.value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => true,
        "false" | "0" | "no" | "off" => false,
        _ => {
            return Err(ConfigError::new(
                field,
                Some(raw.source),
                format!("{:?} is not a boolean; use true or false", raw.value),
            ));
        }
    };
    Ok(Some(Sourced::new(value, raw.source)))
}

/// The settings the environment gives.
pub(super) fn layer(env: &dyn Env) -> Result<Layer, ConfigError> {
    let response_timeout_secs = match get(env, RESPONSE_TIMEOUT_SECS) {
        None => None,
        Some(raw) => {
            let secs = raw.value.parse::<u64>().map_err(|_| {
                ConfigError::new(
                    "response_timeout_secs",
                    Some(raw.source.clone()),
                    format!("{:?} is not a whole number of seconds", raw.value),
                )
            })?;
            Some(Sourced::new(secs, raw.source))
        }
    };
    Ok(Layer {
        server_addr: get(env, SERVER_ADDR),
        server_name: get(env, SERVER_NAME),
        server_fingerprint: get(env, SERVER_FINGERPRINT),
        ca_file: get(env, CA_FILE).map(|s| Sourced::new(PathBuf::from(s.value), s.source)),
        debug: get_bool(env, DEBUG, "debug")?,
        response_timeout_secs,
        verbose: get_bool(env, VERBOSE, "verbose")?,
        metrics_listen: get(env, METRICS_LISTEN),
        log_level: get(env, LOG_LEVEL),
        tunnel: TunnelLayer {
            domain: get(env, DOMAIN),
            api_key: get(env, API_KEY).map(|s| Sourced::new(ApiKey::new(s.value), s.source)),
            local_target: get(env, LOCAL_TARGET),
        },
        tunnels: Vec::new(),
    })
}

/// The config file named by `HOP_CLIENT_CONFIG`.
pub(super) fn config_path(env: &dyn Env) -> Option<PathBuf> {
    get(env, CONFIG).map(|s| PathBuf::from(s.value))
}
