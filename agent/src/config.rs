//! The agent's settings: where they come from and how they are checked.
//!
//! Three sources, each read into a [`Layer`] of optional values that remember where they
//! came from ([`Source`]): command-line flags ([`crate::cli`]), `HOP_CLIENT_*` environment
//! variables ([`mod@env`], read through the [`Env`] trait so tests pass a map) and a TOML file
//! ([`file`], `--config FILE`). [`Config::merge`] takes each value from the first source
//! that has it, flags before environment before file, and [`Config::validate`] turns the
//! result into [`Settings`] or a [`ConfigError`] that names the bad field, where its value
//! came from, and why it was refused.
//!
//! Tunnels: flags and environment describe at most one (`--domain`, `--key`, TARGET); a
//! file may hold several `[[tunnel]]`s. The one from flags/environment is laid field by
//! field over the file's tunnel when the file has exactly one, or over the file's tunnel
//! with the same domain; otherwise it is served in addition to the file's.

pub mod env;
mod file;
mod observability;
mod print;
mod secret;
mod target;
mod validate;

use std::{fmt, path::PathBuf};

pub use self::env::{Env, ProcessEnv};
pub use self::secret::ApiKey;
pub use self::target::{DEFAULT_SERVER_PORT, LocalTarget, ServerAddr};
pub use self::validate::{DEFAULT_RESPONSE_TIMEOUT, Settings, TunnelSettings, Verification};
use crate::cli::Cli;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag or argument, e.g. `--server`.
    Flag(&'static str),
    /// An environment variable, e.g. `HOP_CLIENT_SERVER_ADDR`.
    Env(&'static str),
    /// A TOML config file.
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(flag) => f.write_str(flag),
            Self::Env(name) => f.write_str(name),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value as given.
    pub value: T,
    /// Where it was given.
    pub source: Source,
}

impl<T> Sourced<T> {
    /// A value from `source`.
    pub fn new(value: T, source: Source) -> Self {
        Self { value, source }
    }
}

/// One tunnel's settings from one source; any of them may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TunnelLayer {
    /// The public domain to serve.
    pub domain: Option<Sourced<String>>,
    /// The domain's client API key.
    pub api_key: Option<Sourced<ApiKey>>,
    /// The local service: a port, host:port or http:// URL.
    pub local_target: Option<Sourced<String>>,
}

impl TunnelLayer {
    fn is_empty(&self) -> bool {
        self.domain.is_none() && self.api_key.is_none() && self.local_target.is_none()
    }

    /// Each field from `self` if set, else from `below`.
    fn over(self, below: Self) -> Self {
        Self {
            domain: self.domain.or(below.domain),
            api_key: self.api_key.or(below.api_key),
            local_target: self.local_target.or(below.local_target),
        }
    }
}

/// The settings one source gave; missing ones are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    /// The gateway's data-plane address, `host:port`.
    pub server_addr: Option<Sourced<String>>,
    /// The name the gateway's certificate must carry (default: the host of `server_addr`).
    pub server_name: Option<Sourced<String>>,
    /// The pinned SHA-256 fingerprint of the gateway's certificate.
    pub server_fingerprint: Option<Sourced<String>>,
    /// A PEM file of CA certificates to trust instead of the system's roots.
    pub ca_file: Option<Sourced<PathBuf>>,
    /// Debug mode: the gateway's certificate is self-signed, so a fingerprint is required.
    pub debug: Option<Sourced<bool>>,
    /// How long the local service may take to start its response.
    pub response_timeout_secs: Option<Sourced<u64>>,
    /// Log every request, not only failures.
    pub verbose: Option<Sourced<bool>>,
    /// Where to serve `/metrics`, `/healthz`, `/readyz` (off when unset).
    pub metrics_listen: Option<Sourced<String>>,
    /// The lowest log level written (default `info`).
    pub log_level: Option<Sourced<String>>,
    /// The single tunnel given by flags or environment.
    pub tunnel: TunnelLayer,
    /// The `[[tunnel]]` entries of a config file.
    pub tunnels: Vec<TunnelLayer>,
}

/// Every source merged, not yet validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// See [`Layer::server_addr`].
    pub server_addr: Option<Sourced<String>>,
    /// See [`Layer::server_name`].
    pub server_name: Option<Sourced<String>>,
    /// See [`Layer::server_fingerprint`].
    pub server_fingerprint: Option<Sourced<String>>,
    /// See [`Layer::ca_file`].
    pub ca_file: Option<Sourced<PathBuf>>,
    /// See [`Layer::debug`].
    pub debug: Option<Sourced<bool>>,
    /// See [`Layer::response_timeout_secs`].
    pub response_timeout_secs: Option<Sourced<u64>>,
    /// See [`Layer::verbose`].
    pub verbose: Option<Sourced<bool>>,
    /// See [`Layer::metrics_listen`].
    pub metrics_listen: Option<Sourced<String>>,
    /// See [`Layer::log_level`].
    pub log_level: Option<Sourced<String>>,
    /// The tunnels to serve, one session each.
    pub tunnels: Vec<TunnelLayer>,
}

impl Config {
    /// Reads every source: the parsed command line, the environment, and the config file
    /// named by `--config` or `HOP_CLIENT_CONFIG`.
    pub fn load(cli: &Cli, env: &dyn Env) -> Result<Self, ConfigError> {
        let env_layer = env::layer(env)?;
        let path = match (&cli.config, env::config_path(env)) {
            (Some(path), _) => Some(path.clone()),
            (None, path) => path,
        };
        let file_layer = match path {
            Some(path) => file::load(&path)?,
            None => Layer::default(),
        };
        Self::merge(cli.layer(), env_layer, file_layer)
    }

    /// Merges the sources: each setting from flags if given there, else from the
    /// environment, else from the file.
    pub fn merge(cli: Layer, env: Layer, file: Layer) -> Result<Self, ConfigError> {
        let single = cli.tunnel.over(env.tunnel);
        let tunnels = merge_tunnels(single, file.tunnels)?;
        Ok(Self {
            server_addr: cli.server_addr.or(env.server_addr).or(file.server_addr),
            server_name: cli.server_name.or(env.server_name).or(file.server_name),
            server_fingerprint: cli
                .server_fingerprint
                .or(env.server_fingerprint)
                .or(file.server_fingerprint),
            ca_file: cli.ca_file.or(env.ca_file).or(file.ca_file),
            debug: cli.debug.or(env.debug).or(file.debug),
            response_timeout_secs: cli
                .response_timeout_secs
                .or(env.response_timeout_secs)
                .or(file.response_timeout_secs),
            verbose: cli.verbose.or(env.verbose).or(file.verbose),
            metrics_listen: cli
                .metrics_listen
                .or(env.metrics_listen)
                .or(file.metrics_listen),
            log_level: cli.log_level.or(env.log_level).or(file.log_level),
            tunnels,
        })
    }
}

/// Lays the flags/environment tunnel over the file's tunnels (see the module docs).
fn merge_tunnels(
    single: TunnelLayer,
    mut from_file: Vec<TunnelLayer>,
) -> Result<Vec<TunnelLayer>, ConfigError> {
    if single.is_empty() {
        return Ok(from_file);
    }
    match from_file.len() {
        0 => Ok(vec![single]),
        1 => Ok(vec![single.over(from_file.remove(0))]),
        n => {
            let Some(domain) = &single.domain else {
                let given = single
                    .api_key
                    .as_ref()
                    .map(|k| k.source.clone())
                    .or_else(|| single.local_target.as_ref().map(|t| t.source.clone()));
                return Err(ConfigError::new(
                    "domain",
                    given,
                    format!(
                        "the config file has {n} tunnels; give --domain (or HOP_CLIENT_DOMAIN) \
                         to say which one the key or target is for"
                    ),
                ));
            };
            let same = from_file.iter().position(|t| {
                t.domain
                    .as_ref()
                    .is_some_and(|d| d.value.eq_ignore_ascii_case(&domain.value))
            });
            match same {
                Some(i) => {
                    let file_tunnel = from_file.remove(i);
                    from_file.insert(i, single.over(file_tunnel));
                }
                None => from_file.insert(0, single),
            }
            Ok(from_file)
        }
    }
}

/// A setting that can't be used: which one, where it came from, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The setting's name as in the config file, e.g. `server_addr` or `tunnel[2].api_key`.
    pub field: String,
    /// Where the refused value came from, when there was one.
    pub origin: Option<Source>,
    /// Why it was refused.
    pub reason: String,
}

impl ConfigError {
    /// An error about `field`.
    pub fn new(
        field: impl Into<String>,
        origin: Option<Source>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            origin,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.field)?;
        if let Some(origin) = &self.origin {
            write!(f, " (from {origin})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::Parser;

    use super::*;

    fn flag<T>(value: T, flag: &'static str) -> Option<Sourced<T>> {
        Some(Sourced::new(value, Source::Flag(flag)))
    }

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("hopgate-agent").chain(args.iter().copied())).unwrap()
    }

    fn write_file(text: &str) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// A directory removed on drop (no extra dependency for one helper).
    mod tempdir {
        use std::path::{Path, PathBuf};

        pub(super) struct Dir(PathBuf);

        impl Dir {
            pub(super) fn new() -> Self {
                let n: u64 = rand::random();
                let path = std::env::temp_dir().join(format!("hopgate-agent-test-{n:016x}"));
                std::fs::create_dir_all(&path).unwrap();
                Self(path)
            }
            pub(super) fn path(&self) -> &Path {
                &self.0
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn flags_beat_environment_beat_file() {
        let (_dir, path) = write_file(
            r#"
            server_addr = "file.example:1"
            server_name = "file-name"
            response_timeout_secs = 7
            verbose = true

            [[tunnel]]
            domain = "app.example.com"
            api_key = "file-key"
            local_target = 1111
            "#,
        );
        let env = HashMap::from([
            ("HOP_CLIENT_SERVER_ADDR", "env.example:2"),
            ("HOP_CLIENT_SERVER_NAME", "env-name"),
            ("HOP_CLIENT_API_KEY", "env-key"),
            ("HOP_CLIENT_LOCAL_TARGET", "2222"),
        ]);
        let args = [
            "--config",
            path.to_str().unwrap(),
            "http",
            "3333",
            "--server",
            "cli.example:3",
        ];
        let config = Config::load(&cli(&args), &env).unwrap();
        assert_eq!(
            config.server_addr,
            flag("cli.example:3".to_owned(), "--server")
        );
        assert_eq!(
            config.server_name,
            Some(Sourced::new(
                "env-name".to_owned(),
                Source::Env("HOP_CLIENT_SERVER_NAME")
            ))
        );
        assert_eq!(
            config.response_timeout_secs,
            Some(Sourced::new(7, Source::File(path.clone())))
        );
        assert_eq!(config.tunnels.len(), 1);
        let tunnel = &config.tunnels[0];
        assert_eq!(tunnel.local_target, flag("3333".to_owned(), "TARGET"));
        let key = tunnel.api_key.as_ref().unwrap();
        assert_eq!(
            (key.value.expose(), &key.source),
            ("env-key", &Source::Env("HOP_CLIENT_API_KEY"))
        );
        assert_eq!(
            tunnel.domain.as_ref().unwrap().source,
            Source::File(path.clone())
        );

        let settings = config.validate().unwrap();
        assert_eq!(settings.server.to_string(), "cli.example:3");
        assert_eq!(settings.server_name, "env-name");
        assert_eq!(settings.response_timeout, std::time::Duration::from_secs(7));
        assert!(settings.verbose);
        assert_eq!(
            settings.tunnels[0].target.to_string(),
            "http://127.0.0.1:3333"
        );
        assert_eq!(settings.tunnels[0].api_key.expose(), "env-key");
    }

    #[test]
    fn environment_alone_is_enough() {
        let fingerprint = "ab".repeat(32);
        let env = HashMap::from([
            ("HOP_CLIENT_SERVER_ADDR", "gw.example.com:4433"),
            ("HOP_CLIENT_DOMAIN", "App.Example.com"),
            ("HOP_CLIENT_API_KEY", "k"),
            ("HOP_CLIENT_LOCAL_TARGET", "localhost:8080"),
            ("HOP_CLIENT_DEBUG", "TRUE"),
            ("HOP_CLIENT_SERVER_FINGERPRINT", &fingerprint),
            ("HOP_CLIENT_VERBOSE", ""),
        ]);
        let settings = Config::load(&cli(&[]), &env).unwrap().validate().unwrap();
        assert_eq!(settings.server_name, "gw.example.com");
        assert!(matches!(settings.verification, Verification::Pinned(_)));
        assert_eq!(settings.tunnels[0].domain, "app.example.com");
        assert_eq!(
            settings.tunnels[0].target.to_string(),
            "http://localhost:8080"
        );
        assert!(!settings.verbose, "an empty variable counts as unset");
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let env = HashMap::from([("HOP_CLIENT_DEBUG", "maybe")]);
        let err = Config::load(&cli(&[]), &env).unwrap_err();
        assert_eq!(err.field, "debug");
        assert_eq!(err.origin, Some(Source::Env("HOP_CLIENT_DEBUG")));
        assert!(err.to_string().contains("HOP_CLIENT_DEBUG"), "{err}");
    }

    #[test]
    fn several_file_tunnels_and_one_from_flags() {
        let file = Layer {
            tunnels: vec![
                TunnelLayer {
                    domain: flag("a.example".into(), "f"),
                    ..Default::default()
                },
                TunnelLayer {
                    domain: flag("b.example".into(), "f"),
                    local_target: flag("1".into(), "f"),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        // A tunnel for a domain the file has: its fields override that entry.
        let cli = Layer {
            tunnel: TunnelLayer {
                domain: flag("B.example".into(), "--domain"),
                local_target: flag("2".into(), "TARGET"),
                ..Default::default()
            },
            ..Default::default()
        };
        let merged = Config::merge(cli, Layer::default(), file.clone()).unwrap();
        assert_eq!(merged.tunnels.len(), 2);
        assert_eq!(merged.tunnels[1].local_target, flag("2".into(), "TARGET"));
        // A new domain: served in addition.
        let cli = Layer {
            tunnel: TunnelLayer {
                domain: flag("c.example".into(), "--domain"),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            Config::merge(cli, Layer::default(), file.clone())
                .unwrap()
                .tunnels
                .len(),
            3
        );
        // A key without a domain: ambiguous, refused.
        let cli = Layer {
            tunnel: TunnelLayer {
                api_key: flag(ApiKey::new("k"), "--key"),
                ..Default::default()
            },
            ..Default::default()
        };
        let err = Config::merge(cli, Layer::default(), file).unwrap_err();
        assert_eq!(err.field, "domain");
        assert!(err.reason.contains("2 tunnels"), "{err}");
    }

    #[test]
    fn file_errors_name_the_field() {
        let (_dir, path) = write_file("server_adr = \"x:1\"\n");
        let err = Config::load(
            &cli(&["--config", path.to_str().unwrap()]),
            &HashMap::<&str, &str>::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("server_adr"), "{err}");
        assert_eq!(err.origin, Some(Source::File(path)));

        let (_dir, path) = write_file("[[tunnel]]\ndomain = \"a.example\"\nlocal_port = 3\n");
        let err = Config::load(
            &cli(&["--config", path.to_str().unwrap()]),
            &HashMap::<&str, &str>::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("local_port"), "{err}");

        let missing = Config::load(
            &cli(&["--config", "/nonexistent/agent.toml"]),
            &HashMap::<&str, &str>::new(),
        )
        .unwrap_err();
        assert_eq!(missing.field, "config");
        assert!(
            missing.to_string().contains("/nonexistent/agent.toml"),
            "{missing}"
        );
    }

    #[test]
    fn config_file_path_from_the_environment() {
        let (_dir, path) = write_file("server_addr = \"from-file:9\"\n");
        let env = HashMap::from([("HOP_CLIENT_CONFIG", path.to_str().unwrap())]);
        let config = Config::load(&cli(&[]), &env).unwrap();
        assert_eq!(config.server_addr.unwrap().value, "from-file:9");
    }
}
