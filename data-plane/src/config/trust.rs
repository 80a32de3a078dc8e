//! The settings of trust between pods and the control-plane: the relay token, and TLS
//! on the table stream and the relay. Checked by [`Config::validate`].

use hopgate_settings::Secret;

use super::{Config, DEFAULT_RELAY_SERVER_NAME, MIN_RELAY_TOKEN_LEN, Problem, bad};

impl Config {
    /// Whether this pod relays or is relayed to: it then needs the relay token.
    fn takes_part_in_relays(&self) -> Result<bool, Problem> {
        Ok(self.control_plane_url.is_some() || self.relay_listen()?.is_some())
    }

    pub(super) fn validate_internal_trust(&self) -> Result<(), Problem> {
        self.check_relay_token()?;
        let relay_on = self.relay_listen()?.is_some();
        match (&self.relay_tls_cert, &self.relay_tls_key) {
            (Some(_), None) => {
                return Err(bad("HOP_RELAY_TLS_KEY", "required with HOP_RELAY_TLS_CERT"));
            }
            (None, Some(_)) => {
                return Err(bad("HOP_RELAY_TLS_CERT", "required with HOP_RELAY_TLS_KEY"));
            }
            (Some(_), Some(_)) if !relay_on => {
                return Err(bad(
                    "HOP_RELAY_TLS_CERT",
                    "needs the relay listener (HOP_SERVER_RELAY_LISTEN)",
                ));
            }
            (Some(_), Some(_)) if self.relay_ca.is_none() => {
                return Err(bad(
                    "HOP_RELAY_CA",
                    "required with HOP_RELAY_TLS_CERT (pods verify each other's relay \
                     certificate against it)",
                ));
            }
            _ => {}
        }
        if self.relay_port == Some(0) {
            return Err(bad("HOP_SERVER_RELAY_PORT", "must be 1-65535"));
        }
        if self.relay_port.is_some() && !relay_on {
            return Err(bad(
                "HOP_SERVER_RELAY_PORT",
                "needs the relay listener (HOP_SERVER_RELAY_LISTEN)",
            ));
        }
        if rustls::pki_types::ServerName::try_from(self.relay_server_name.as_str()).is_err() {
            return Err(bad(
                "HOP_RELAY_SERVER_NAME",
                format!(
                    "'{}' is not a DNS name (default {DEFAULT_RELAY_SERVER_NAME})",
                    self.relay_server_name
                ),
            ));
        }
        let https_control_plane = self
            .control_plane_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"));
        if self.control_plane_ca.is_some() && !https_control_plane {
            return Err(bad(
                "HOP_CONTROL_PLANE_CA",
                "needs an https:// HOP_CONTROL_PLANE_URL",
            ));
        }
        Ok(())
    }

    fn check_relay_token(&self) -> Result<(), Problem> {
        const VAR: &str = "HOP_RELAY_TOKEN";
        let token = self.relay_token.as_ref().filter(|t| !t.is_empty());
        let Some(token) = token else {
            if self.takes_part_in_relays()? {
                return Err(bad(
                    VAR,
                    format!(
                        "required with HOP_CONTROL_PLANE_URL or the relay listener \
                         (at least {MIN_RELAY_TOKEN_LEN} characters)"
                    ),
                ));
            }
            return Ok(());
        };
        let len = token.expose().chars().count();
        if len < MIN_RELAY_TOKEN_LEN {
            return Err(bad(
                VAR,
                format!("too short: {len} characters, at least {MIN_RELAY_TOKEN_LEN} needed"),
            ));
        }
        if token
            .expose()
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad(VAR, "must not contain spaces or control characters"));
        }
        if self.internal_token.as_ref().map(Secret::expose) == Some(token.expose()) {
            return Err(bad(
                VAR,
                "must differ from HOP_INTERNAL_TOKEN (the control-plane must not hold it)",
            ));
        }
        Ok(())
    }
}
