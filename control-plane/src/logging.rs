//! JSON log lines on stdout (slog): one object per line with `ts`, `level`, `msg`. Keys and
//! tokens are never logged.

use std::sync::Mutex;

use slog::{Drain, Logger, o};

/// The process's root logger.
pub(crate) fn root() -> Logger {
    let drain = slog_json::Json::new(std::io::stdout())
        .add_default_keys()
        .build();
    Logger::root(Mutex::new(drain).fuse(), o!("process" => "control-plane"))
}
