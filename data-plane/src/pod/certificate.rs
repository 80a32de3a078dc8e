//! The certificate the pod starts with. Debug mode: a self-signed certificate agents pin
//! (kept in the state directory, so pods given the same files present the same one).
//! Production: the same kind of certificate stands in, trusted by no one, until the
//! control-plane's table brings the real one.

use std::sync::Arc;

use hopgate_transport::Identity;
use slog::{Logger, info};

use super::RunError;
use crate::{
    certs::{self, CertStore},
    config::Config,
};

/// The pod's first certificate and the SNI store visitors' TLS is served from.
pub(super) struct Certificate {
    /// PEM certificate chain.
    pub(super) chain: String,
    /// PEM private key.
    pub(super) key: String,
    pub(super) store: Arc<CertStore>,
}

impl Certificate {
    /// The certificate for the gateway's names (`domain`, `*.domain` and the development
    /// domains), and the DTLS identity made from it.
    pub(super) fn start(
        config: &Config,
        domain: &str,
        log: &Logger,
    ) -> Result<(Self, Identity), RunError> {
        let mut names = vec![domain.to_owned(), format!("*.{domain}")];
        // A debug pod with thousands of development domains under its own name keeps a
        // small certificate: the wildcard names them already.
        names.extend(
            config
                .dev_domains
                .iter()
                .filter(|d| !under_wildcard(&d.domain, domain))
                .map(|d| d.domain.clone()),
        );
        let saved = config
            .state_dir
            .as_deref()
            .filter(|_| config.debug)
            .and_then(|dir| certs::saved_debug_certificate(dir, &names));
        let reused = saved.is_some();
        let (chain, key) = match saved {
            Some(pair) => pair,
            None => certs::self_signed(names.clone()).map_err(RunError::Certificate)?,
        };
        let identity = Identity::from_pem(chain.as_bytes(), key.as_bytes())?;
        let certificate = Self {
            chain,
            key,
            store: Arc::new(CertStore::new()),
        };
        if config.debug {
            info!(log, "debug mode: self-signed certificate; agents pin its fingerprint";
                "fingerprint" => identity.fingerprint().to_string());
            certificate.serve_for_debug(config, &names, reused, log)?;
        } else {
            info!(
                log,
                "production mode: certificates come from the control-plane's ACME; \
                        not ready until the gateway's own certificate arrives"
            );
        }
        Ok((certificate, identity))
    }

    /// Debug mode: the certificate is saved in the state directory (unless it came from
    /// there) and served for every name.
    fn serve_for_debug(
        &self,
        config: &Config,
        names: &[String],
        reused: bool,
        log: &Logger,
    ) -> Result<(), RunError> {
        if let Some(dir) = &config.state_dir {
            if !reused {
                certs::save_debug_certificate(dir, &self.chain, &self.key)
                    .map_err(|err| RunError::Certificate(err.into()))?;
            }
            let path = dir.join(certs::DEBUG_CERT_FILE);
            info!(log, "debug certificate written"; "path" => path.display().to_string(),
                "reused" => reused);
        }
        for name in names {
            self.store
                .insert(name, self.chain.as_bytes(), self.key.as_bytes())
                .map_err(RunError::Certificate)?;
        }
        Ok(())
    }
}

/// Whether `*.domain` covers `name` (exactly one label more).
fn under_wildcard(name: &str, domain: &str) -> bool {
    name.strip_suffix(domain)
        .and_then(|label| label.strip_suffix('.'))
        .is_some_and(|label| !label.is_empty() && !label.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::under_wildcard;

    #[test]
    fn the_wildcard_covers_one_label_only() {
        assert!(under_wildcard("app.gw.test", "gw.test"));
        assert!(!under_wildcard("a.b.gw.test", "gw.test"));
        assert!(!under_wildcard("gw.test", "gw.test"));
        assert!(!under_wildcard("appgw.test", "gw.test"));
        assert!(!under_wildcard("app.other.test", "gw.test"));
    }
}
