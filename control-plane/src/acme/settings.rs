//! ACME settings (`HOP_ACME_…`, the `[acme]` table of a config file; read by
//! `crate::settings`). `HOP_ACME_DIR` unset means ACME is off: no orders, no certificates.

use std::{path::PathBuf, time::Duration};

use crate::config::ConfigError;

/// Default first retry after a failed order (doubling up to [`DEFAULT_RETRY_MAX`]).
pub(crate) const DEFAULT_RETRY_MIN: Duration = Duration::from_secs(30);
/// Default longest wait between retries.
pub(crate) const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(3600);

/// What the ACME worker needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AcmeSettings {
    /// `HOP_ACME_DIR`: the directory URL (`https://…/directory`).
    pub(crate) directory: String,
    /// `HOP_ACME_EMAIL`: the account's contact, optional.
    pub(crate) email: Option<String>,
    /// `HOP_ACME_CA_ROOT`: a PEM file with the root that the directory's HTTPS certificate
    /// chains to (test CAs such as Pebble); unset = the system's roots.
    pub(crate) ca_root: Option<PathBuf>,
    /// `HOP_ACME_RENEW_BEFORE`: renew when less than this is left; `None` = a third of
    /// the certificate's lifetime.
    pub(crate) renew_before: Option<Duration>,
    /// `HOP_ACME_RETRY_MIN`: first retry after a failure; also the least time between two
    /// orders for one name.
    pub(crate) retry_min: Duration,
    /// `HOP_ACME_RETRY_MAX`: the longest wait between retries.
    pub(crate) retry_max: Duration,
}

fn bad(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(var, reason)
}

impl AcmeSettings {
    /// Checks what parsing can't.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.directory.starts_with("https://") {
            return Err(bad(
                "HOP_ACME_DIR",
                "must be an https:// URL (RFC 8555 requires HTTPS)",
            ));
        }
        if let Some(email) = &self.email {
            let (user, host) = email.split_once('@').unwrap_or_default();
            if user.is_empty() || !host.contains('.') || email.contains(char::is_whitespace) {
                return Err(bad(
                    "HOP_ACME_EMAIL",
                    format!("'{email}' is not an e-mail address"),
                ));
            }
        }
        if let Some(root) = self.ca_root.as_ref().filter(|root| !root.is_file()) {
            return Err(bad(
                "HOP_ACME_CA_ROOT",
                format!("{} is not a readable file", root.display()),
            ));
        }
        if self.renew_before.is_some_and(|d| d.is_zero()) {
            return Err(bad("HOP_ACME_RENEW_BEFORE", "must be positive"));
        }
        if self.retry_min.is_zero() {
            return Err(bad("HOP_ACME_RETRY_MIN", "must be positive"));
        }
        if self.retry_max < self.retry_min {
            return Err(bad(
                "HOP_ACME_RETRY_MAX",
                "must not be shorter than HOP_ACME_RETRY_MIN",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ACME settings read from `pairs` (with valid admin key and token), validated;
    /// `Err` = the setting named by the error.
    fn parse(pairs: &[(&str, &str)]) -> Result<Option<AcmeSettings>, String> {
        let mut env = vec![
            ("HOP_ADMIN_API_KEY", "admin-key-0123456789"),
            ("HOP_INTERNAL_TOKEN", "internal-token-0123456789"),
        ];
        env.extend_from_slice(pairs);
        match crate::settings::load(["cp"], &&env[..]) {
            Ok(crate::settings::Start::Run(config, _)) => Ok(config.acme),
            Ok(crate::settings::Start::Print(_)) => unreachable!("no --print-config"),
            Err(hopgate_settings::SettingsError::Invalid { setting, .. }) => Err(setting),
            Err(other) => Err(other.to_string()),
        }
    }

    #[test]
    fn off_unless_a_directory_is_given() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&[("HOP_ACME_EMAIL", "a@b.example")]).unwrap(), None);
        let s = parse(&[("HOP_ACME_DIR", "https://acme.example/dir")])
            .unwrap()
            .unwrap();
        assert_eq!(s.retry_min, DEFAULT_RETRY_MIN);
        assert_eq!(s.retry_max, DEFAULT_RETRY_MAX);
        assert_eq!(s.renew_before, None);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let dir = ("HOP_ACME_DIR", "https://acme.example/dir");
        for (pairs, var) in [
            (
                vec![("HOP_ACME_DIR", "http://acme.example/dir")],
                "HOP_ACME_DIR",
            ),
            (vec![dir, ("HOP_ACME_EMAIL", "nobody")], "HOP_ACME_EMAIL"),
            (
                vec![dir, ("HOP_ACME_CA_ROOT", "/no/such/file")],
                "HOP_ACME_CA_ROOT",
            ),
            (
                vec![dir, ("HOP_ACME_RENEW_BEFORE", "soon")],
                "HOP_ACME_RENEW_BEFORE",
            ),
            (vec![dir, ("HOP_ACME_RETRY_MIN", "0")], "HOP_ACME_RETRY_MIN"),
            (
                vec![
                    dir,
                    ("HOP_ACME_RETRY_MIN", "1m"),
                    ("HOP_ACME_RETRY_MAX", "1s"),
                ],
                "HOP_ACME_RETRY_MAX",
            ),
        ] {
            assert_eq!(parse(&pairs).unwrap_err(), var, "{pairs:?}");
        }
    }
}
