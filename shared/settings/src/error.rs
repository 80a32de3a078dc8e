//! What can go wrong while loading settings, and how a binary stops on it.

use std::process::ExitCode;

/// The exit code of a process whose configuration is wrong.
pub const EXIT_CONFIG: u8 = 2;

/// A configuration problem; `Display` is the one line printed on stderr.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The command line did not parse (clap's message), or `--help`/`--version` was asked.
    #[error("{0}")]
    Cli(#[from] clap::Error),
    /// The config file could not be read or is not TOML.
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    /// A value is missing or wrong; `setting` says where it came from (a variable, a flag,
    /// or `file: key`).
    #[error("{setting}: {reason}")]
    Invalid { setting: String, reason: String },
    /// `--print-config` could not render the settings.
    #[error("cannot print the configuration: {0}")]
    Print(#[from] toml::ser::Error),
}

/// Prints `err` on stderr (prefixed with `program`) and returns the exit code:
/// [`EXIT_CONFIG`] for every configuration error, 0 for `--help` and `--version`.
pub fn exit_code(program: &str, err: &SettingsError) -> ExitCode {
    match err {
        SettingsError::Cli(e) => {
            let _ = e.print();
            // clap: 0 after --help/--version, 2 for a usage error.
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_CONFIG))
        }
        other => {
            eprintln!("{program}: {other}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}
