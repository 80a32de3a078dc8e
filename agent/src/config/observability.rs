//! The agent's own observability settings: the metrics listener (`HOP_METRICS_LISTEN`) and
//! the log level (`HOP_LOG_LEVEL`).

use std::net::SocketAddr;

use super::{ConfigError, Sourced};

/// `host:port` to listen on, or `None` (off).
pub(super) fn metrics_listen(
    value: Option<&Sourced<String>>,
) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(given) = value else { return Ok(None) };
    given.value.parse().map(Some).map_err(|_| {
        ConfigError::new(
            "metrics_listen",
            Some(given.source.clone()),
            format!(
                "{:?} is not an IP address and port, e.g. 127.0.0.1:9100",
                given.value
            ),
        )
    })
}

/// A level name; `info` when unset.
pub(super) fn log_level(value: Option<&Sourced<String>>) -> Result<slog::Level, ConfigError> {
    let Some(given) = value else {
        return Ok(slog::Level::Info);
    };
    match given.value.to_ascii_lowercase().as_str() {
        "trace" => Ok(slog::Level::Trace),
        "debug" => Ok(slog::Level::Debug),
        "info" => Ok(slog::Level::Info),
        "warn" | "warning" => Ok(slog::Level::Warning),
        "error" => Ok(slog::Level::Error),
        "critical" | "crit" => Ok(slog::Level::Critical),
        _ => Err(ConfigError::new(
            "log_level",
            Some(given.source.clone()),
            format!(
                "{:?} is not a level: trace, debug, info, warning, error or critical",
                given.value
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    fn env(value: &str, name: &'static str) -> Sourced<String> {
        Sourced::new(value.to_owned(), Source::Env(name))
    }

    #[test]
    fn off_by_default_and_checked_when_given() {
        assert_eq!(metrics_listen(None).unwrap(), None);
        let addr = env("127.0.0.1:0", "HOP_METRICS_LISTEN");
        assert!(metrics_listen(Some(&addr)).unwrap().is_some());
        let bad = metrics_listen(Some(&env("9100", "HOP_METRICS_LISTEN"))).unwrap_err();
        assert_eq!(bad.field, "metrics_listen");
        assert_eq!(bad.origin, Some(Source::Env("HOP_METRICS_LISTEN")));
    }

    #[test]
    fn levels() {
        assert_eq!(log_level(None).unwrap(), slog::Level::Info);
        let warn = env("WARN", "HOP_LOG_LEVEL");
        assert_eq!(log_level(Some(&warn)).unwrap(), slog::Level::Warning);
        assert!(log_level(Some(&env("loud", "HOP_LOG_LEVEL"))).is_err());
    }
}
