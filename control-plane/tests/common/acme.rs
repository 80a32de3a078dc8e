//! ACME test helpers: a Pebble, a control-plane using it and a responder on Pebble's
//! HTTP-01 port; checking a certificate from the table against Pebble's root; the
//! admin API's certificate status.

use std::time::Duration;

use super::{
    ControlPlane, Database,
    pebble::{Pebble, Responder},
};
use hopgate_table::CertificateRecord;
use openssl::{
    pkey::PKey,
    stack::Stack,
    x509::{X509, X509StoreContext, store::X509StoreBuilder},
};
use serde_json::Value;

pub const GATEWAY: &str = "gw.hopgate.test";

pub struct Setup {
    pub pebble: Pebble,
    pub cp: ControlPlane,
    pub responder: Responder,
}

/// Pebble, a control-plane using it, and a responder on Pebble's HTTP-01 port.
pub async fn setup(db: &Database, extra: &[(&str, &str)]) -> Setup {
    let (listener, port) = Responder::bind().await;
    let pebble = Pebble::start(port);
    let mut env = pebble.control_plane_env(GATEWAY);
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let cp = ControlPlane::start(db, &env);
    let responder = Responder::start(&cp, listener);
    Setup {
        pebble,
        cp,
        responder,
    }
}

/// Verifies `cert`'s chain against `root`, that its only name is `domain`, and that the
/// key is the certificate's; returns the serial (hex).
pub fn verify(cert: &CertificateRecord, root: &std::path::Path, domain: &str) -> String {
    let certs = X509::stack_from_pem(cert.chain_pem.as_bytes()).unwrap();
    let leaf = &certs[0];
    let mut chain = Stack::new().unwrap();
    for c in &certs[1..] {
        chain.push(c.clone()).unwrap();
    }
    let mut store = X509StoreBuilder::new().unwrap();
    store
        .add_cert(X509::from_pem(&std::fs::read(root).unwrap()).unwrap())
        .unwrap();
    let store = store.build();
    let mut ctx = X509StoreContext::new().unwrap();
    let ok = ctx
        .init(&store, leaf, &chain, |c| {
            let ok = c.verify_cert()?;
            Ok(ok.then_some(()).ok_or_else(|| format!("{}", c.error())))
        })
        .unwrap();
    assert_eq!(
        ok,
        Ok(()),
        "{domain}: chain doesn't verify against Pebble's root"
    );
    let names: Vec<String> = leaf
        .subject_alt_names()
        .unwrap()
        .iter()
        .filter_map(|n| n.dnsname().map(str::to_owned))
        .collect();
    assert_eq!(names, [domain]);
    let key = PKey::private_key_from_pem(cert.key_pem.as_bytes()).unwrap();
    assert!(leaf.public_key().unwrap().public_eq(&key), "key matches");
    assert!(cert.not_after_unix > 0);
    leaf.serial_number()
        .to_bn()
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_string()
}

pub fn table_cert(s: &Setup, domain: &str) -> Option<CertificateRecord> {
    s.responder
        .subscriber
        .table()
        .get(domain)?
        .certificate
        .clone()
}

pub async fn status(s: &Setup, domain: &str) -> Value {
    let (_, body) =
        s.cp.api()
            .get(&format!("/api/v1/admin/domains/{domain}"))
            .await;
    body["certificate"].clone()
}

pub async fn wait_status(s: &Setup, domain: &str, want: &str, timeout: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let cert = status(s, domain).await;
        if cert["status"] == want || tokio::time::Instant::now() > deadline {
            assert_eq!(
                cert["status"],
                want,
                "{domain}: {cert}\n{}",
                s.cp.log_text()
            );
            return cert;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The serial of a chain's first certificate (hex).
pub fn serial(cert: &CertificateRecord) -> String {
    let leaf = X509::from_pem(cert.chain_pem.as_bytes()).unwrap();
    leaf.serial_number()
        .to_bn()
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_string()
}
