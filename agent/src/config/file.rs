//! The TOML config file (`--config FILE`):
//!
//! ```toml
//! server_addr = "gw.example.com:443"
//! # server_name = "gw.example.com"      # default: the host of server_addr
//! # server_fingerprint = "ab:cd:..."    # pin the gateway's certificate (required with debug)
//! # ca_file = "ca.pem"                  # trust this CA instead of the system's roots
//! # debug = false
//! # response_timeout_secs = 60
//! # verbose = false
//! # metrics_listen = "127.0.0.1:9100"   # /metrics, /healthz, /readyz (off by default)
//! # log_level = "info"                  # trace, debug, info, warning, error, critical
//!
//! [[tunnel]]
//! domain = "app.example.com"
//! api_key = "..."
//! local_target = 3000                   # or "localhost:3000", "http://127.0.0.1:3000"
//! ```
//!
//! The file is read by the `config` crate (as the data-plane's and control-plane's are) into
//! a struct with `deny_unknown_fields`, so a typo can't silently drop a setting: the error
//! names the key. A relative `ca_file` is relative to the file's folder.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ApiKey, ConfigError, Layer, Source, Sourced, TunnelLayer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server_addr: Option<String>,
    server_name: Option<String>,
    server_fingerprint: Option<String>,
    ca_file: Option<PathBuf>,
    debug: Option<bool>,
    response_timeout_secs: Option<u64>,
    verbose: Option<bool>,
    metrics_listen: Option<String>,
    log_level: Option<String>,
    #[serde(default)]
    tunnel: Vec<FileTunnel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTunnel {
    domain: Option<String>,
    api_key: Option<ApiKey>,
    local_target: Option<TargetValue>,
}

/// `local_target = 3000` or `local_target = "localhost:3000"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TargetValue {
    Port(u64),
    Text(String),
}

impl TargetValue {
    fn into_text(self) -> String {
        match self {
            Self::Port(port) => port.to_string(),
            Self::Text(text) => text,
        }
    }
}

/// Reads and parses the file at `path`.
pub(super) fn load(path: &Path) -> Result<Layer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            "config",
            Some(Source::File(path.to_owned())),
            format!("cannot read it: {e}"),
        )
    })?;
    parse(&text, path)
}

/// Parses a config file's text; `path` is where it came from.
pub(super) fn parse(text: &str, path: &Path) -> Result<Layer, ConfigError> {
    let source = || Source::File(path.to_owned());
    let file: FileConfig = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|e| ConfigError::new("config", Some(source()), explain(text, e)))?;
    let sourced = |value| Sourced::new(value, source());
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(Layer {
        server_addr: file.server_addr.map(sourced),
        server_name: file.server_name.map(sourced),
        server_fingerprint: file.server_fingerprint.map(sourced),
        ca_file: file.ca_file.map(|p| Sourced::new(dir.join(p), source())),
        debug: file.debug.map(|v| Sourced::new(v, source())),
        response_timeout_secs: file
            .response_timeout_secs
            .map(|v| Sourced::new(v, source())),
        verbose: file.verbose.map(|v| Sourced::new(v, source())),
        metrics_listen: file.metrics_listen.map(sourced),
        log_level: file.log_level.map(sourced),
        tunnel: TunnelLayer::default(),
        tunnels: file
            .tunnel
            .into_iter()
            .map(|t| TunnelLayer {
                domain: t.domain.map(sourced),
                api_key: t.api_key.map(|k| Sourced::new(k, source())),
                local_target: t.local_target.map(|v| sourced(v.into_text())),
            })
            .collect(),
    })
}

/// What is wrong with the file: the syntax error and where, or the key whose value (or
/// name) was refused. Never quotes a line or a value: it could be the API key.
fn explain(text: &str, err: config::ConfigError) -> String {
    use config::ConfigError as E;
    // The config crate's deserializer knows the key but not the line: toml's does.
    if let Err(located) = toml::from_str::<FileConfig>(text) {
        return describe(text, &located);
    }
    match err {
        E::FileParse { cause, .. } => match cause.downcast_ref::<toml::de::Error>() {
            Some(toml) => describe(text, toml),
            None => "not valid TOML".to_owned(),
        },
        E::At { error, key, .. } => explain_at(key, &error),
        E::Type { expected, key, .. } => match key {
            Some(key) => format!("`{key}`: expected {expected}"),
            None => format!("expected {expected}"),
        },
        other => other.to_string(),
    }
}

fn explain_at(key: Option<String>, error: &config::ConfigError) -> String {
    match key {
        Some(key) => format!("`{key}`: {error}"),
        None => error.to_string(),
    }
}

/// toml's message and where, naming the key but never quoting the line: it could be the
/// one holding the API key.
fn describe(text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim_end();
    let Some(span) = err.span() else {
        return message.to_owned();
    };
    let before = &text[..span.start.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.len() - line_start + 1;
    // For a bad value, the key is what precedes `=` on its line.
    match before[line_start..].split_once('=') {
        Some((key, _)) if !key.trim().is_empty() => {
            format!("line {line}, column {column}: `{}`: {message}", key.trim())
        }
        _ => format!("line {line}, column {column}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        server_addr = "gw.example.com:443"
        ca_file = "certs/ca.pem"
        debug = false

        [[tunnel]]
        domain = "app.example.com"
        api_key = "key-one"
        local_target = 3000

        [[tunnel]]
        domain = "api.example.com"
        api_key = "key-two"
        local_target = "http://127.0.0.1:8080"
    "#;

    #[test]
    fn a_file_with_two_tunnels() {
        let layer = parse(EXAMPLE, Path::new("/etc/hopgate/agent.toml")).unwrap();
        assert_eq!(layer.server_addr.unwrap().value, "gw.example.com:443");
        assert_eq!(
            layer.ca_file.unwrap().value,
            PathBuf::from("/etc/hopgate/certs/ca.pem")
        );
        assert_eq!(layer.tunnels.len(), 2);
        assert_eq!(
            layer.tunnels[0].local_target.as_ref().unwrap().value,
            "3000"
        );
        assert_eq!(
            layer.tunnels[1].api_key.as_ref().unwrap().value.expose(),
            "key-two"
        );
        assert!(!format!("{:?}", layer.tunnels).contains("key-two"));
    }

    #[test]
    fn unknown_and_mistyped_fields_are_refused_by_name() {
        for (text, names) in [
            ("serveraddr = \"x\"", "serveraddr"),
            // The config crate reads "true", "yes", "on", "1" as env values are read; not this.
            ("debug = \"maybe\"", "debug"),
            ("[[tunnel]]\ndomain = \"a\"\nkey = \"k\"", "key"),
            ("[tunnels]\n", "tunnels"),
        ] {
            let err = parse(text, Path::new("agent.toml")).unwrap_err();
            assert!(err.to_string().contains(names), "{text:?}: {err}");
            assert_eq!(err.origin, Some(Source::File("agent.toml".into())));
        }
    }

    #[test]
    fn a_parse_error_never_echoes_the_key() {
        let err = parse(
            "[[tunnel]]\napi_key = \"SECRET-123\" oops\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(!err.to_string().contains("SECRET-123"), "{err}");
    }
}
