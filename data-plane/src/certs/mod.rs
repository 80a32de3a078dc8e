//! Certificates for visitors' HTTPS, chosen per SNI name from a map that can change at run
//! time, and the debug mode's self-signed certificate.
//!
//! OpenSSL hands the connection to the context the servername callback picks, including
//! that context's ALPN callback: every per-name context sets its own, or HTTP/2 silently
//! falls back to HTTP/1.1. Session tickets are issued and opened by the first context, the
//! listener's ([`sessions`]), whichever one SNI picks.

use std::{collections::HashMap, sync::Arc};

use arc_swap::ArcSwap;
use openssl::{
    pkey::PKey,
    ssl::{
        AlpnError, NameType, SniError, SslAcceptor, SslAcceptorBuilder, SslAlert, SslContext,
        SslMethod, SslOptions, SslSessionCacheMode,
    },
    x509::X509,
};

use crate::ops::metrics::Metrics;

pub(crate) mod sessions;

/// Name → TLS context, swapped whole on change so lookups never lock.
pub(crate) struct CertStore {
    by_name: ArcSwap<HashMap<String, SslContext>>,
}

impl CertStore {
    pub(crate) fn new() -> Self {
        Self {
            by_name: ArcSwap::from_pointee(HashMap::new()),
        }
    }

    /// Serves `chain_pem`/`key_pem` for `name` (a host or `*.domain`).
    pub(crate) fn insert(
        &self,
        name: &str,
        chain_pem: &[u8],
        key_pem: &[u8],
    ) -> anyhow::Result<()> {
        let context = context(chain_pem, key_pem)?;
        self.by_name.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(name.to_ascii_lowercase(), context.clone());
            next
        });
        Ok(())
    }

    /// Applies a batch of changes in one swap: `(name, chain_pem, key_pem)` to serve, and
    /// names to stop serving. A certificate that doesn't load is skipped and reported (its
    /// name keeps what it had); the rest still apply.
    pub(crate) fn update(
        &self,
        serve: &[(String, String, String)],
        stop: &[String],
    ) -> Vec<(String, anyhow::Error)> {
        let mut failed = Vec::new();
        let mut contexts = Vec::with_capacity(serve.len());
        for (name, chain, key) in serve {
            match context(chain.as_bytes(), key.as_bytes()) {
                Ok(ctx) => contexts.push((name.to_ascii_lowercase(), ctx)),
                Err(err) => failed.push((name.clone(), err)),
            }
        }
        if contexts.is_empty() && stop.is_empty() {
            return failed;
        }
        self.by_name.rcu(|current| {
            let mut next = HashMap::clone(current);
            for name in stop {
                next.remove(&name.to_ascii_lowercase());
            }
            for (name, ctx) in &contexts {
                next.insert(name.clone(), ctx.clone());
            }
            next
        });
        failed
    }

    /// Whether `name` has a certificate of its own (not through a wildcard).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.by_name.load().contains_key(&name.to_ascii_lowercase())
    }

    /// The context for an SNI name: exact name, then the wildcard one level up.
    fn lookup(&self, name: &str) -> Option<SslContext> {
        let name = name.to_ascii_lowercase();
        let map = self.by_name.load();
        map.get(&name).cloned().or_else(|| {
            let (_, parent) = name.split_once('.')?;
            map.get(&format!("*.{parent}")).cloned()
        })
    }
}

/// What the HTTPS listener speaks, in its order of preference: HTTP/2, HTTP/1.1, and the
/// agents' tunnel over TCP (`hopgate-tunnel/1`, offered only by agents).
const ALPN_PROTOCOLS: &[u8] = b"\x02h2\x08http/1.1\x10hopgate-tunnel/1";

fn select_alpn(client: &[u8]) -> Result<&[u8], AlpnError> {
    openssl::ssl::select_next_proto(ALPN_PROTOCOLS, client).ok_or(AlpnError::NOACK)
}

fn context(chain_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<SslContext> {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    load(&mut builder, chain_pem, key_pem)?;
    builder.set_alpn_select_callback(|_, client| select_alpn(client));
    Ok(builder.build().into_context())
}

fn load(builder: &mut SslAcceptorBuilder, chain_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<()> {
    let mut chain = X509::stack_from_pem(chain_pem)?.into_iter();
    let leaf = chain
        .next()
        .ok_or_else(|| anyhow::anyhow!("no certificate in the PEM"))?;
    builder.set_certificate(&leaf)?;
    for extra in chain {
        builder.add_extra_chain_cert(extra)?;
    }
    let key = PKey::private_key_from_pem(key_pem)?;
    builder.set_private_key(&key)?;
    builder.check_private_key()?;
    Ok(())
}

/// The acceptor for the HTTPS listener: `default` when the name is unknown (or absent),
/// otherwise the store's context for the SNI name. With `resumption`, it issues session
/// tickets under keys of its own (a new acceptor, new keys) and resumes a session only
/// for the name it was made for (refusals counted in `metrics`); without, every
/// handshake is a full one.
pub(crate) fn acceptor(
    store: Arc<CertStore>,
    default_chain: &[u8],
    default_key: &[u8],
    resumption: bool,
    metrics: Arc<Metrics>,
) -> anyhow::Result<SslAcceptorBuilder> {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    load(&mut builder, default_chain, default_key)?;
    // Sessions live in the visitors' tickets only: OpenSSL's server-side cache (TLS 1.2
    // session IDs, up to 20,480 sessions) would hold memory for every visitor.
    builder.set_session_cache_mode(SslSessionCacheMode::OFF);
    if !resumption {
        builder.set_options(SslOptions::NO_TICKET);
    }
    // Read whole TLS records (and whatever follows) in one system call instead of the
    // 5-byte record header first and the record after it. The setting is taken when a
    // connection starts, so it holds whichever per-name context SNI picks.
    builder.set_read_ahead(true);
    // HTTP/2, HTTP/1.1 or the agents' tunnel by ALPN, also for names without a certificate
    // of their own.
    builder.set_alpn_select_callback(|_, client| select_alpn(client));
    builder.set_servername_callback(move |ssl, alert| {
        if !sessions::check_resumption(ssl) {
            metrics.rejected("tls_resumed_for_other_name");
            *alert = SslAlert::ILLEGAL_PARAMETER;
            return Err(SniError::ALERT_FATAL);
        }
        if let Some(name) = ssl.servername(NameType::HOST_NAME)
            && let Some(context) = store.lookup(name)
        {
            ssl.set_ssl_context(&context)
                .map_err(|_| SniError::ALERT_FATAL)?;
        }
        Ok(())
    });
    Ok(builder)
}

/// A self-signed ECDSA P-256 certificate (PEM chain, PEM PKCS#8 key) for `names`.
pub(crate) fn self_signed(names: Vec<String>) -> anyhow::Result<(String, String)> {
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)?;
    Ok((cert.pem(), signing_key.serialize_pem()))
}

/// The debug certificate's file in the state directory.
pub(crate) const DEBUG_CERT_FILE: &str = "debug-cert.pem";
/// The debug certificate's private key's file in the state directory.
pub(crate) const DEBUG_KEY_FILE: &str = "debug-key.pem";

/// The debug certificate kept in the state directory (`debug-cert.pem`, `debug-key.pem`),
/// if both files are there and the certificate names every one of `names`: several debug
/// pods given the same two files present the same certificate, so an agent that pins its
/// fingerprint can connect to any of them.
pub(crate) fn saved_debug_certificate(
    dir: &std::path::Path,
    names: &[String],
) -> Option<(String, String)> {
    let chain = std::fs::read_to_string(dir.join(DEBUG_CERT_FILE)).ok()?;
    let key = std::fs::read_to_string(dir.join(DEBUG_KEY_FILE)).ok()?;
    let cert = X509::from_pem(chain.as_bytes()).ok()?;
    PKey::private_key_from_pem(key.as_bytes()).ok()?;
    let covered: Vec<String> = cert
        .subject_alt_names()?
        .iter()
        .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
        .collect();
    names
        .iter()
        .all(|n| covered.contains(&n.to_ascii_lowercase()))
        .then_some((chain, key))
}

/// Saves the debug certificate and its key in the state directory, each replaced
/// atomically and readable by this user only.
pub(crate) fn save_debug_certificate(
    dir: &std::path::Path,
    chain: &str,
    key: &str,
) -> std::io::Result<()> {
    hopgate_private_files::write_private(&dir.join(DEBUG_CERT_FILE), chain.as_bytes())?;
    hopgate_private_files::write_private(&dir.join(DEBUG_KEY_FILE), key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ALPN wire format: each protocol prefixed by its length.
    fn offer(protocols: &[&[u8]]) -> Vec<u8> {
        protocols
            .iter()
            .flat_map(|p| std::iter::once(p.len() as u8).chain(p.iter().copied()))
            .collect()
    }

    #[test]
    fn visitors_get_http_and_agents_the_tunnel() {
        let tunnel = hopgate_transport::TUNNEL_ALPN;
        assert_eq!(
            select_alpn(&offer(&[b"h2", b"http/1.1"])).ok(),
            Some(&b"h2"[..])
        );
        assert_eq!(
            select_alpn(&offer(&[b"http/1.1"])).ok(),
            Some(&b"http/1.1"[..])
        );
        assert_eq!(select_alpn(&offer(&[tunnel])).ok(), Some(tunnel));
        // A client offering both is a visitor.
        assert_eq!(select_alpn(&offer(&[tunnel, b"h2"])).ok(), Some(&b"h2"[..]));
        assert!(select_alpn(&offer(&[b"spdy/3"])).is_err());
    }
}
