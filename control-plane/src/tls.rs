//! HTTPS for the internal listener (`HOP_INTERNAL_TLS_CERT`, `HOP_INTERNAL_TLS_KEY`):
//! the pods' table stream and session reports carry certificates' private keys and the
//! internal token, so outside a trusted network they travel encrypted. Pods verify the
//! certificate against `HOP_CONTROL_PLANE_CA`.

use anyhow::Context;
use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslFiletype, SslMethod};

use crate::config::TlsFiles;

/// An OpenSSL acceptor (Mozilla's intermediate profile) serving `files`.
pub(crate) fn acceptor(files: &TlsFiles) -> anyhow::Result<SslAcceptorBuilder> {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    builder
        .set_certificate_chain_file(&files.cert)
        .with_context(|| format!("HOP_INTERNAL_TLS_CERT: cannot use {}", files.cert.display()))?;
    builder
        .set_private_key_file(&files.key, SslFiletype::PEM)
        .with_context(|| format!("HOP_INTERNAL_TLS_KEY: cannot use {}", files.key.display()))?;
    builder
        .check_private_key()
        .context("HOP_INTERNAL_TLS_KEY does not match HOP_INTERNAL_TLS_CERT")?;
    Ok(builder)
}
