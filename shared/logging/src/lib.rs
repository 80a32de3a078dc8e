//! `hopgate-logging`: how every HopGate process logs. One JSON object per line on stdout
//! (slog), with `ts`, `level`, `msg` and `process`, plus the keys of the line (`domain`,
//! `session_id`, `request_id`, ...). Secrets are never logged.
//!
//! # Layout
//! - [`root`]: the process's logger; it also installs the bridge, once per process.
//! - [`json`]: the same logger writing elsewhere (tests capture lines with it).
//! - `bridge`: a `tracing` subscriber that forwards the events of HopGate's own crates
//!   (targets `hopgate_*`) and quinn's (`quinn*`) into the slog logger, as lines with a
//!   `target` key and the event's fields.
//! - `level`: which `tracing` events are forwarded, and at what slog level.
//! - `fields`: an event's fields as slog key-value pairs.

mod bridge;
mod fields;
mod level;

use std::{io, sync::Mutex};

use slog::{Drain, Level, Logger, o};

pub use bridge::{Bridge, install};

/// The process's root logger, writing JSON lines at `level` and above to stdout, named
/// `process`. The first call in a process also installs the [`Bridge`], so that `tracing`
/// events from the transport and quinn appear in the same output at the same level.
pub fn root(process: &'static str, level: Level) -> Logger {
    let log = json(io::stdout(), process, level);
    // A process that already has a subscriber (a test running several) keeps it.
    let _ = install(log.clone(), level);
    log
}

/// A logger writing JSON lines at `level` and above to `out`, as [`root`] writes them.
pub fn json<W>(out: W, process: &'static str, level: Level) -> Logger
where
    W: io::Write + Send + 'static,
{
    let drain = slog_json::Json::new(out).add_default_keys().build();
    let drain = Mutex::new(drain).fuse();
    let drain = slog::LevelFilter::new(drain, level).fuse();
    Logger::root(drain, o!("process" => process))
}

#[cfg(test)]
pub(crate) mod testing {
    //! A logger whose lines the test can read.

    use std::{
        io,
        sync::{Arc, Mutex},
    };

    /// What a [`super::json`] logger wrote, shared with the test.
    #[derive(Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        pub(crate) fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{testing::Captured, *};

    #[test]
    fn lines_are_json_with_the_default_keys_and_the_process() {
        let out = Captured::default();
        let log = json(out.clone(), "data-plane", Level::Info);
        slog::info!(log, "listening"; "https" => "127.0.0.1:443");
        slog::debug!(log, "not at info");
        let lines = out.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        for part in [
            "\"ts\":\"",
            "\"level\":\"INFO\"",
            "\"msg\":\"listening\"",
            "\"process\":\"data-plane\"",
            "\"https\":\"127.0.0.1:443\"",
        ] {
            assert!(line.contains(part), "{part} missing from {line}");
        }
    }
}
