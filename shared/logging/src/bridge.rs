//! The `tracing` subscriber that writes the transport's and quinn's events into the slog
//! logger: one line per event, at the mapped level, with a `target` key (the module that
//! logged it) and the event's fields.
//!
//! Spans are not recorded: only events are forwarded. What is not forwarded is refused at
//! the callsite (`register_callsite`, `max_level_hint`), so a disabled `tracing::debug!`
//! costs a comparison and allocates nothing.

use slog::{Level, Logger};
use tracing::{
    Event, Metadata, Subscriber,
    level_filters::LevelFilter,
    span::{Attributes, Id, Record},
    subscriber::Interest,
};

use crate::{fields::Fields, level};

/// Forwards `tracing` events from `hopgate_*` and `quinn*` targets at `threshold` and above
/// (never `TRACE`) to a slog logger.
pub struct Bridge {
    logger: Logger,
    threshold: Level,
}

impl Bridge {
    /// A bridge writing to `logger` the events at `threshold` and above.
    pub fn new(logger: Logger, threshold: Level) -> Self {
        Self { logger, threshold }
    }

    fn forwards(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event()
            && level::forwarded_target(metadata.target())
            && level::forwarded_level(metadata.level(), self.threshold)
    }
}

/// Makes a [`Bridge`] to `logger` the process's `tracing` subscriber. `false` if the
/// process already has one: the first stays.
pub fn install(logger: Logger, threshold: Level) -> bool {
    tracing::subscriber::set_global_default(Bridge::new(logger, threshold)).is_ok()
}

impl Subscriber for Bridge {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.forwards(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(level::hint(self.threshold))
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.forwards(metadata)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Never called for a span this subscriber disabled; any non-zero id will do.
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let Some(level) = level::to_slog(metadata.level()) else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let target = metadata.target();
        let log = &self.logger;
        let msg = fields.message.as_str();
        match level {
            Level::Critical => slog::crit!(log, "{}", msg; "target" => target, &fields),
            Level::Error => slog::error!(log, "{}", msg; "target" => target, &fields),
            Level::Warning => slog::warn!(log, "{}", msg; "target" => target, &fields),
            Level::Info => slog::info!(log, "{}", msg; "target" => target, &fields),
            Level::Debug => slog::debug!(log, "{}", msg; "target" => target, &fields),
            Level::Trace => slog::trace!(log, "{}", msg; "target" => target, &fields),
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::{json, testing::Captured};

    /// The lines a bridge at `threshold` writes while `f` runs.
    fn lines_at(threshold: Level, f: impl FnOnce()) -> Vec<String> {
        let out = Captured::default();
        let bridge = Bridge::new(json(out.clone(), "test", threshold), threshold);
        tracing::subscriber::with_default(bridge, f);
        out.lines()
    }

    fn peer() -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 7], 4433))
    }

    #[test]
    fn an_event_becomes_a_line_with_its_target_and_fields() {
        let lines = lines_at(Level::Debug, || {
            tracing::debug!(
                target: "hopgate_transport::dtls",
                peer = %peer(),
                len = 13_usize,
                fresh = true,
                "dropped a DTLS record"
            );
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        for part in [
            "\"level\":\"DEBG\"",
            "\"msg\":\"dropped a DTLS record\"",
            "\"target\":\"hopgate_transport::dtls\"",
            "\"process\":\"test\"",
            "\"peer\":\"192.0.2.7:4433\"",
            "\"len\":13",
            "\"fresh\":true",
        ] {
            assert!(line.contains(part), "{part} missing from {line}");
        }
    }

    #[test]
    fn events_below_the_threshold_trace_and_other_crates_are_not_written() {
        let lines = lines_at(Level::Info, || {
            tracing::debug!(target: "hopgate_transport::dtls", "below info");
            tracing::info!(target: "quinn_proto::connection", "at info");
            tracing::warn!(target: "h2::proto", "another crate");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("\"msg\":\"at info\""), "{lines:?}");
        assert!(lines[0].contains("\"level\":\"INFO\""), "{lines:?}");

        let lines = lines_at(Level::Trace, || {
            tracing::trace!(target: "quinn_proto::connection", "every packet");
            tracing::error!(target: "hopgate_agent", "failed");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("\"level\":\"ERRO\""), "{lines:?}");
    }

    #[test]
    fn spans_are_not_recorded() {
        let bridge = Bridge::new(
            json(Captured::default(), "test", Level::Debug),
            Level::Debug,
        );
        tracing::subscriber::with_default(bridge, || {
            let span = tracing::debug_span!(target: "quinn_proto", "drive");
            assert!(span.is_disabled());
        });
    }
}
