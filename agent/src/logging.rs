//! JSON log lines on stdout (slog): one object per line with `ts`, `level`, `msg`, and
//! `domain`, `session_id`, `request_id` where they apply. The API key is never logged.

use std::sync::Mutex;

use slog::{Drain, Level, Logger, o};

/// The process's root logger, writing `level` and above.
pub(crate) fn root(level: Level) -> Logger {
    let drain = slog_json::Json::new(std::io::stdout())
        .add_default_keys()
        .build();
    let drain = Mutex::new(drain).fuse().filter_level(level).fuse();
    Logger::root(drain, o!("process" => "agent"))
}
