//! Production verification: the gateway's chain and name against a CA; no way around it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use hopgate_transport::{ClientConfig, Identity, ServerVerification, TransportConfig};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

struct Pki {
    ca_pem: String,
    identity: Identity,
}

fn pki(names: &[&str]) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    let chain = format!("{}{}", leaf.pem(), ca.pem());
    let identity =
        Identity::from_pem(chain.as_bytes(), leaf_key.serialize_pem().as_bytes()).unwrap();
    Pki {
        ca_pem: ca.pem(),
        identity,
    }
}

fn config(name: &str, ca_pem: &str) -> ClientConfig {
    ClientConfig::new(name, ServerVerification::ca_pem(ca_pem.as_bytes()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_signed_gateway_is_verified_by_chain_and_name() {
    let pki = pki(&["gw.hopgate.test"]);
    let listener = bind_listener(&pki.identity, TransportConfig::default());
    serve_hashing(listener.clone());
    let session = connect(
        listener.local_addr(),
        &config("gw.hopgate.test", &pki.ca_pem),
    )
    .await;
    exchange(&session, 1000, 1000, 1).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_name_or_unknown_ca_is_refused_with_a_reason() {
    let pki = pki(&["gw.hopgate.test"]);
    let listener = bind_listener(&pki.identity, TransportConfig::default());
    serve_hashing(listener.clone());
    let addr = listener.local_addr();

    let err = hopgate_transport::connect(addr, &config("other.hopgate.test", &pki.ca_pem))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid for name"), "{err}");

    let stranger = self::pki(&["gw.hopgate.test"]);
    let err = hopgate_transport::connect(addr, &config("gw.hopgate.test", &stranger.ca_pem))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
}

#[test]
fn a_ca_file_without_certificates_is_a_config_error() {
    let err = ServerVerification::ca_pem(b"not a certificate").unwrap_err();
    assert_eq!(err.field, "ca_file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_presented_to_new_sessions_without_dropping_old_ones() {
    let old = pki(&["gw.hopgate.test"]);
    let listener = bind_listener(&old.identity, TransportConfig::default());
    serve_hashing(listener.clone());
    let addr = listener.local_addr();
    let before = connect(addr, &config("gw.hopgate.test", &old.ca_pem)).await;

    let renewed = pki(&["gw.hopgate.test"]);
    listener.set_identity(&renewed.identity).unwrap();

    // New sessions see the renewed certificate (and only it)...
    let after = connect(addr, &config("gw.hopgate.test", &renewed.ca_pem)).await;
    exchange(&after, 100_000, 100_000, 2).await.unwrap();
    let err = hopgate_transport::connect(addr, &config("gw.hopgate.test", &old.ca_pem))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
    // ...while the session made before the renewal carries on.
    exchange(&before, 100_000, 100_000, 3).await.unwrap();
}
