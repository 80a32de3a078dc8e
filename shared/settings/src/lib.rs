//! HopGate's layered settings, shared by the three binaries.
//!
//! Each binary describes its settings once, as a table of [`Setting`]s (TOML key, `HOP_…`
//! variable, flag, help), and keeps its own typed struct (serde, `deny_unknown_fields`,
//! container-level `#[serde(default)]` for the defaults) with a `validate()`.
//! [`Spec::load`] layers, lowest first:
//!
//! 1. the struct's defaults;
//! 2. a TOML file (`--config FILE` or `HOP_CONFIG`, or the spec's own variable), read by the
//!    `config` crate; an unknown key is an error naming it and its line. It may hold arrays
//!    of tables ([`Array`], `[[tunnel]]`), over one of whose entries the variables and flags
//!    lay the one entry they give;
//! 3. the `HOP_…` variables (read through [`Env`], so tests pass a map; empty = unset);
//! 4. the command-line flags (clap): a flag per setting (a value-less [`Kind::Toggle`] for
//!    some booleans), and positional arguments, optionally under a [`Subcommand`].
//!
//! It remembers where each value came from ([`Provenance`]), so that an error names the
//! variable, the flag or the file and key that set the bad value:
//! `HOP_SERVER_HTTPS_LISTEN: 'abc' is not a socket address`,
//! `--https-listen: …`, `/etc/hopgate/dp.toml: https_listen: …`.
//!
//! # Layout
//!
//! - `spec`: [`Setting`], [`Array`], [`Subcommand`], [`Spec`] and [`Spec::load`].
//! - `command`: the clap command built from the table, and what a command line gives.
//! - `file`: reading the file and checking its keys.
//! - `layers`: the file, environment and flag layers, layered.
//! - `entries`: arrays of tables and the entry laid over the file's.
//! - `provenance`: [`Provenance`], and how errors name a setting.
//! - `secret`: [`Secret`], printed and serialized as `***`.
//! - `values`: serde helpers for socket addresses and durations, and [`LogLevel`].
//! - `error`: [`SettingsError`] and the exit-code convention ([`EXIT_CONFIG`] = 2).

mod command;
mod entries;
mod error;
mod file;
mod layers;
mod provenance;
mod secret;
mod spec;
pub mod values;

pub use error::{EXIT_CONFIG, SettingsError, exit_code};
pub use layers::{Env, ProcessEnv};
pub use provenance::{Origin, Provenance};
pub use secret::Secret;
pub use spec::{Array, Kind, Loaded, Setting, Spec, Subcommand};
pub use values::LogLevel;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_arrays;
