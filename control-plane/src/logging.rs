//! JSON log lines on stdout (slog): one object per line with `ts`, `level`, `msg`, from
//! `HOP_LOG_LEVEL` up. Keys and tokens are never logged.

use std::sync::Mutex;

use hopgate_settings::LogLevel;
use slog::{Drain, Logger, o};

/// The process's root logger, writing lines at `level` and above.
pub(crate) fn root(level: LogLevel) -> Logger {
    let drain = slog_json::Json::new(std::io::stdout())
        .add_default_keys()
        .build();
    let drain = Mutex::new(drain).fuse();
    let drain = slog::LevelFilter::new(drain, level.to_slog()).fuse();
    Logger::root(drain, o!("process" => "control-plane"))
}
