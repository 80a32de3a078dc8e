//! The agent's settings: where they come from and how they are checked.
//!
//! `hopgate-settings` layers them, lowest first: the defaults, a TOML file (`--config FILE`
//! or `HOP_CLIENT_CONFIG`), the `HOP_CLIENT_*` variables, the command line ([`SPEC`]). It
//! remembers where each value came from, so that [`validate()`] can name the flag, the
//! variable or the file and key of a bad value; the process then exits with status 2.
//!
//! Tunnels: flags and environment describe at most one (`--domain`, `--key`, TARGET); a
//! file may hold several `[[tunnel]]`s. The one from flags/environment is laid field by
//! field over the file's tunnel when the file has exactly one, or over the file's tunnel
//! with the same domain; otherwise it is served in addition to the file's.
//!
//! # Layout
//!
//! - `spec`: the table of settings (file key, variable, flag).
//! - `file`: [`Config`], the settings as a file holds them (and `--print-config` prints).
//! - `validate`: [`Settings`], what the agent runs with, and [`validate()`];
//!   `verification` and `tunnels` check the gateway's certificate and the tunnels;
//!   `transport` what carries the sessions (udp, tcp, auto);
//!   `target`, `host_header`, `local_protocol`, `basic_auth` and `observability` parse single
//!   values; `inspector` checks the request inspector's.

mod basic_auth;
mod file;
mod host_header;
mod inspector;
mod local_protocol;
mod observability;
mod spec;
mod target;
mod transport;
mod tunnels;
mod validate;
mod verification;

use std::{ffi::OsString, path::Path};

use hopgate_settings::{Env, Loaded, Origin, SettingsError};

pub use self::basic_auth::BasicUser;
pub use self::file::{Config, Tunnel};
pub use self::host_header::HostHeader;
pub use self::inspector::{DEFAULT_INSPECT_ADDR, InspectorSettings};
pub use self::local_protocol::LocalProtocol;
pub use self::spec::SPEC;
pub use self::target::{DEFAULT_SERVER_PORT, LocalTarget, ServerAddr};
pub use self::transport::{
    DEFAULT_HA_CONNECTIONS, DEFAULT_UDP_PROBE_FIRST, DEFAULT_UDP_PROBE_MAX, DEFAULT_UDP_SILENCE,
    DEFAULT_UDP_TIMEOUT, MAX_HA_CONNECTIONS, TransportChoice, TransportMode,
};
pub use self::validate::{
    DEFAULT_RESPONSE_TIMEOUT, Settings, TunnelSettings, Verification, validate,
};

/// What the command line asked for.
#[derive(Debug)]
pub struct Startup {
    /// The checked settings.
    pub settings: Settings,
    /// The effective settings as TOML (API keys as `***`), if `--print-config` was given.
    pub printed: Option<String>,
}

/// Reads the command line `args` (program name first), `env` and the config file, and
/// checks the result.
pub fn load(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    env: &dyn Env,
) -> Result<Startup, SettingsError> {
    let mut loaded = SPEC.load::<Config>(args, env)?;
    resolve_ca_file(&mut loaded);
    let settings = validate(&loaded)?;
    let printed = loaded.print_config.then(|| loaded.to_toml()).transpose()?;
    Ok(Startup { settings, printed })
}

/// A relative `ca_file` from the config file is relative to the file's folder.
fn resolve_ca_file(loaded: &mut Loaded<Config>) {
    if let (Origin::File { path, .. }, Some(ca_file)) = (
        loaded.provenance.origin("ca_file"),
        loaded.value.ca_file.as_mut(),
    ) {
        let dir = Path::new(&path).parent().unwrap_or(Path::new("."));
        *ca_file = dir.join(&*ca_file);
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod validate_tests;
