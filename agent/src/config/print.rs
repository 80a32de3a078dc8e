//! `--print-config`: the merged settings as a TOML config file (the same keys `file` reads),
//! the API keys as `***`.

use std::path::PathBuf;

use serde::Serialize;

use super::{Config, Sourced};

#[derive(Serialize)]
struct Printed {
    #[serde(skip_serializing_if = "Option::is_none")]
    server_addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<PathBuf>,
    debug: bool,
    response_timeout_secs: u64,
    verbose: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_level: Option<String>,
    tunnel: Vec<PrintedTunnel>,
}

#[derive(Serialize)]
struct PrintedTunnel {
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_target: Option<String>,
}

fn value<T: Clone>(sourced: &Option<Sourced<T>>) -> Option<T> {
    sourced.as_ref().map(|s| s.value.clone())
}

impl Config {
    /// The effective settings as TOML (defaults filled in), API keys masked as `***`.
    pub fn to_toml(&self) -> String {
        let printed = Printed {
            server_addr: value(&self.server_addr),
            server_name: value(&self.server_name),
            server_fingerprint: value(&self.server_fingerprint),
            ca_file: value(&self.ca_file),
            debug: value(&self.debug).unwrap_or(false),
            response_timeout_secs: value(&self.response_timeout_secs)
                .unwrap_or(super::DEFAULT_RESPONSE_TIMEOUT.as_secs()),
            verbose: value(&self.verbose).unwrap_or(false),
            metrics_listen: value(&self.metrics_listen),
            log_level: value(&self.log_level),
            tunnel: self
                .tunnels
                .iter()
                .map(|t| PrintedTunnel {
                    domain: value(&t.domain),
                    api_key: t.api_key.as_ref().map(|_| "***"),
                    local_target: value(&t.local_target),
                })
                .collect(),
        };
        // Strings, numbers, booleans and an array of tables: always serializable.
        toml::to_string(&printed).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ApiKey, Layer, Source, TunnelLayer};
    use super::*;

    #[test]
    fn prints_the_values_and_masks_the_keys() {
        let flag = |v: &str| Some(Sourced::new(v.to_owned(), Source::Flag("--x")));
        let cli = Layer {
            server_addr: flag("gw.example.com:443"),
            tunnel: TunnelLayer {
                domain: flag("app.example.com"),
                api_key: Some(Sourced::new(
                    ApiKey::new("TOPSECRET-1"),
                    Source::Flag("--key"),
                )),
                local_target: flag("3000"),
            },
            ..Layer::default()
        };
        let config = Config::merge(cli, Layer::default(), Layer::default()).unwrap();
        let text = config.to_toml();
        assert!(!text.contains("TOPSECRET"), "{text}");
        for line in [
            "server_addr = \"gw.example.com:443\"",
            "api_key = \"***\"",
            "local_target = \"3000\"",
            "response_timeout_secs = 60",
            "[[tunnel]]",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
        let reread = super::super::file::parse(&text, std::path::Path::new("p.toml")).unwrap();
        assert_eq!(reread.tunnels.len(), 1);
    }
}
