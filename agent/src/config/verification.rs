//! How the gateway's certificate will be checked: a pinned fingerprint (debug mode only),
//! a CA file, or the system's roots. Never silently nothing.

use hopgate_settings::{Loaded, SettingsError};
use hopgate_transport::{Fingerprint, ServerVerification};

use super::{Config, Verification};

/// Debug mode pins a fingerprint; otherwise a fingerprint, a CA file or the system's roots.
pub(super) fn check(loaded: &Loaded<Config>) -> Result<Verification, SettingsError> {
    let config = &loaded.value;
    match (&config.server_fingerprint, &config.ca_file) {
        (Some(_), Some(_)) => Err(loaded.invalid(
            "ca_file",
            format!(
                "give server_fingerprint or ca_file, not both (server_fingerprint came from {})",
                loaded.provenance.describe("server_fingerprint")
            ),
        )),
        // A pin replaces chain-and-name verification: only for a debug gateway's
        // self-signed certificate, never in production.
        (Some(_), None) if !config.debug => Err(loaded.invalid(
            "server_fingerprint",
            "pinning is for debug mode only (a gateway with a self-signed certificate; \
             add --debug / HOP_CLIENT_DEBUG=true); in production the agent verifies the \
             gateway's chain and name against the system's roots or ca_file",
        )),
        (Some(fingerprint), None) => Fingerprint::parse(fingerprint)
            .map(Verification::Pinned)
            .map_err(|e| loaded.invalid("server_fingerprint", e.to_string())),
        (None, _) if config.debug => Err(loaded.invalid(
            "server_fingerprint",
            format!(
                "required in debug mode (debug is on, from {}): the gateway's certificate is \
                 self-signed, so the agent pins it; the data-plane prints its fingerprint at \
                 start (give --fingerprint or HOP_CLIENT_SERVER_FINGERPRINT)",
                loaded.provenance.describe("debug")
            ),
        )),
        (None, Some(path)) => {
            let pem = std::fs::read(path).map_err(|e| {
                loaded.invalid("ca_file", format!("cannot read {}: {e}", path.display()))
            })?;
            ServerVerification::ca_pem(&pem).map_err(|e| {
                loaded.invalid("ca_file", format!("{}: {}", path.display(), e.reason))
            })?;
            Ok(Verification::CaFile {
                path: path.clone(),
                pem,
            })
        }
        (None, None) => Ok(Verification::SystemRoots),
    }
}
