//! Certificates from the pushed table into the SNI store: each domain's certificate (issued
//! by the control-plane's ACME) is served for its name as soon as it arrives, a renewed one
//! replaces it without a restart (connections in progress keep theirs), and an
//! unregistered domain's is dropped. The gateway's own certificate (its main domain and
//! `*.` it) is served to visitors and presented to agents' DTLS handshakes.

use std::sync::{Arc, atomic::Ordering};

use hopgate_table::{ChangeKind, DomainChange, Table};
use hopgate_transport::{Identity, Listener};
use slog::{Logger, info, warn};

use crate::{certs::CertStore, table::control_plane::TableStatus};

/// Where certificates go.
pub(crate) struct Targets {
    pub(crate) store: Arc<CertStore>,
    pub(crate) listener: Arc<Listener>,
    pub(crate) main_domain: String,
    pub(crate) status: Arc<TableStatus>,
    /// Debug mode keeps its self-signed certificate (agents pin its fingerprint).
    pub(crate) debug: bool,
}

/// Brings the certificate store and the DTLS identity in line with what `changes` did to
/// `table`.
pub(crate) fn apply(targets: &Targets, table: &Table, changes: &[DomainChange], log: &Logger) {
    let store = &targets.store;
    let mut serve = Vec::new();
    let mut stop = Vec::new();
    for change in changes {
        match change.kind {
            // A key change may come with a certificate change in the same delta.
            ChangeKind::Added | ChangeKind::CertificateChanged | ChangeKind::KeyChanged => {
                match table
                    .get(&change.domain)
                    .and_then(|r| r.certificate.as_ref())
                {
                    Some(cert) => serve.push((
                        change.domain.clone(),
                        cert.chain_pem.clone(),
                        cert.key_pem.clone(),
                    )),
                    None if store.has(&change.domain) => stop.push(change.domain.clone()),
                    None => {}
                }
            }
            ChangeKind::Removed => stop.push(change.domain.clone()),
            // The routing table picks the new policy up; certificates are as they were.
            ChangeKind::AccessChanged => {}
            ChangeKind::GatewayCertificateChanged if targets.debug => {
                info!(
                    log,
                    "debug mode: keeping the self-signed gateway certificate"
                );
            }
            ChangeKind::GatewayCertificateChanged => {
                if let Some(cert) = table.gateway_certificate() {
                    gateway(targets, &cert.chain_pem, &cert.key_pem, log);
                    for name in [
                        targets.main_domain.clone(),
                        format!("*.{}", targets.main_domain),
                    ] {
                        serve.push((name, cert.chain_pem.clone(), cert.key_pem.clone()));
                    }
                }
            }
        }
    }
    for (domain, err) in store.update(&serve, &stop) {
        warn!(log, "certificate from the table not loaded; keeping the previous one";
            "domain" => domain, "error" => format!("{err:#}"));
    }
    if !serve.is_empty() || !stop.is_empty() {
        info!(log, "certificates updated"; "serving" => serve.len(), "dropped" => stop.len());
    }
}

/// Presents the gateway's new certificate to agents from their next handshake on.
fn gateway(targets: &Targets, chain_pem: &str, key_pem: &str, log: &Logger) {
    let presented = Identity::from_pem(chain_pem.as_bytes(), key_pem.as_bytes())
        .map_err(|e| e.to_string())
        .and_then(|identity| {
            targets
                .listener
                .set_identity(&identity)
                .map_err(|e| e.to_string())
        });
    match presented {
        Ok(()) => {
            targets
                .status
                .gateway_certificate
                .store(true, Ordering::Relaxed);
            info!(log, "gateway certificate in use (HTTPS and DTLS)";
                "domain" => &targets.main_domain);
        }
        Err(err) => warn!(log, "gateway certificate from the table not usable";
            "error" => err),
    }
}
