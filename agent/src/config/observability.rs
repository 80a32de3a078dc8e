//! The agent's own observability settings: the metrics listener (`HOP_METRICS_LISTEN`) and
//! the log level (`HOP_LOG_LEVEL`).

use std::net::SocketAddr;

/// `host:port` to listen on, or `None` (off).
pub(super) fn metrics_listen(value: Option<&str>) -> Result<Option<SocketAddr>, String> {
    let Some(given) = value else { return Ok(None) };
    given
        .trim()
        .parse()
        .map(Some)
        .map_err(|_| format!("{given:?} is not an IP address and port, e.g. 127.0.0.1:9100"))
}

/// A level name; `info` when unset.
pub(super) fn log_level(value: Option<&str>) -> Result<slog::Level, String> {
    let Some(given) = value else {
        return Ok(slog::Level::Info);
    };
    match given.trim().to_ascii_lowercase().as_str() {
        "trace" => Ok(slog::Level::Trace),
        "debug" => Ok(slog::Level::Debug),
        "info" => Ok(slog::Level::Info),
        "warn" | "warning" => Ok(slog::Level::Warning),
        "error" => Ok(slog::Level::Error),
        "critical" | "crit" => Ok(slog::Level::Critical),
        _ => Err(format!(
            "{given:?} is not a level: trace, debug, info, warning, error or critical"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_checked_when_given() {
        assert_eq!(metrics_listen(None).unwrap(), None);
        assert!(metrics_listen(Some("127.0.0.1:0")).unwrap().is_some());
        let bad = metrics_listen(Some("9100")).unwrap_err();
        assert!(bad.contains("not an IP address and port"), "{bad}");
    }

    #[test]
    fn levels() {
        assert_eq!(log_level(None).unwrap(), slog::Level::Info);
        assert_eq!(log_level(Some("WARN")).unwrap(), slog::Level::Warning);
        assert!(log_level(Some("loud")).is_err());
    }
}
