//! HopGate's layered settings, shared by the three binaries.
//!
//! Each binary describes its settings once, as a table of [`Setting`]s (TOML key, `HOP_…`
//! variable, flag, help), and keeps its own typed struct (serde, `deny_unknown_fields`,
//! container-level `#[serde(default)]` for the defaults) with a `validate()`.
//! [`Spec::load`] layers, lowest first:
//!
//! 1. the struct's defaults;
//! 2. a TOML file (`--config FILE` or `HOP_CONFIG`), read by the `config` crate; an unknown
//!    key is an error naming it;
//! 3. the `HOP_…` variables (read through [`Env`], so tests pass a map; empty = unset);
//! 4. the command-line flags (clap).
//!
//! It remembers where each value came from ([`Provenance`]), so that an error names the
//! variable, the flag or the file and key that set the bad value:
//! `HOP_SERVER_HTTPS_LISTEN: 'abc' is not a socket address`,
//! `--https-listen: …`, `/etc/hopgate/dp.toml: https_listen: …`.
//!
//! # Layout
//!
//! - `spec`: [`Setting`], [`Spec`] and the clap command built from the table.
//! - `layers`: the file, environment and flag layers and [`Provenance`].
//! - `secret`: [`Secret`], printed and serialized as `***`.
//! - `values`: serde helpers for socket addresses and durations, and [`LogLevel`].
//! - `error`: [`SettingsError`] and the exit-code convention ([`EXIT_CONFIG`] = 2).

mod error;
mod layers;
mod secret;
mod spec;
pub mod values;

pub use error::{EXIT_CONFIG, SettingsError, exit_code};
pub use layers::{Env, Origin, ProcessEnv, Provenance};
pub use secret::Secret;
pub use spec::{Kind, Loaded, Setting, Spec};
pub use values::LogLevel;

#[cfg(test)]
mod tests;
