//! Which `tracing` events reach the log, and at which slog level.
//!
//! Only HopGate's own crates (`hopgate_*`) and quinn (`quinn`, `quinn_proto`, `quinn_udp`)
//! are forwarded; other libraries' events are not the gateway's to report. `TRACE` is
//! never forwarded: quinn traces every packet.

use slog::Level;
use tracing::level_filters::LevelFilter;

/// The slog level a `tracing` event is written at; `None` for `TRACE`.
pub(crate) fn to_slog(level: &tracing::Level) -> Option<Level> {
    match *level {
        tracing::Level::ERROR => Some(Level::Error),
        tracing::Level::WARN => Some(Level::Warning),
        tracing::Level::INFO => Some(Level::Info),
        tracing::Level::DEBUG => Some(Level::Debug),
        tracing::Level::TRACE => None,
    }
}

/// Whether events from `target` (a module path) are forwarded at all.
pub(crate) fn forwarded_target(target: &str) -> bool {
    target.starts_with("hopgate_") || target.starts_with("quinn")
}

/// Whether an event at `level` is written when the log writes `threshold` and above.
pub(crate) fn forwarded_level(level: &tracing::Level, threshold: Level) -> bool {
    to_slog(level).is_some_and(|level| level.is_at_least(threshold))
}

/// The most verbose `tracing` level forwarded at `threshold`, so that the `tracing`
/// macros below it return at once.
pub(crate) fn hint(threshold: Level) -> LevelFilter {
    match threshold {
        Level::Critical => LevelFilter::OFF,
        Level::Error => LevelFilter::ERROR,
        Level::Warning => LevelFilter::WARN,
        Level::Info => LevelFilter::INFO,
        Level::Debug | Level::Trace => LevelFilter::DEBUG,
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level as T;

    use super::*;

    #[test]
    fn levels_map_by_name_and_trace_is_never_forwarded() {
        assert_eq!(to_slog(&T::ERROR), Some(Level::Error));
        assert_eq!(to_slog(&T::WARN), Some(Level::Warning));
        assert_eq!(to_slog(&T::INFO), Some(Level::Info));
        assert_eq!(to_slog(&T::DEBUG), Some(Level::Debug));
        assert_eq!(to_slog(&T::TRACE), None);
        assert!(!forwarded_level(&T::TRACE, Level::Trace));
    }

    #[test]
    fn a_threshold_forwards_its_level_and_more_severe_ones() {
        assert!(forwarded_level(&T::ERROR, Level::Info));
        assert!(forwarded_level(&T::INFO, Level::Info));
        assert!(!forwarded_level(&T::DEBUG, Level::Info));
        assert!(forwarded_level(&T::DEBUG, Level::Debug));
        assert!(forwarded_level(&T::DEBUG, Level::Trace));
        assert!(forwarded_level(&T::WARN, Level::Warning));
        assert!(!forwarded_level(&T::INFO, Level::Warning));
        // No tracing level is as severe as critical.
        assert!(!forwarded_level(&T::ERROR, Level::Critical));
    }

    #[test]
    fn the_hint_matches_what_is_forwarded() {
        let thresholds = [
            Level::Critical,
            Level::Error,
            Level::Warning,
            Level::Info,
            Level::Debug,
            Level::Trace,
        ];
        for threshold in thresholds {
            for level in [T::ERROR, T::WARN, T::INFO, T::DEBUG, T::TRACE] {
                assert_eq!(
                    level <= hint(threshold),
                    forwarded_level(&level, threshold),
                    "{level} at {threshold:?}"
                );
            }
        }
    }

    #[test]
    fn only_our_crates_and_quinn_are_forwarded() {
        for target in [
            "hopgate_transport::dtls",
            "hopgate_data_plane::tunnel",
            "quinn",
            "quinn_proto::connection",
            "quinn_udp",
        ] {
            assert!(forwarded_target(target), "{target}");
        }
        for target in ["h2::proto", "rustls::conn", "hyper", "hopgate", "tokio"] {
            assert!(!forwarded_target(target), "{target}");
        }
    }
}
