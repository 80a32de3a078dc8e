//! Unit tests of the gateway's certificate in [`Table::apply`] (snapshots and deltas).

use super::*;
use crate::wire::CertificateRecord;

fn snapshot(version: u64) -> TableMessage {
    TableMessage::Snapshot(Snapshot {
        epoch: "e1".into(),
        version,
        ..Snapshot::default()
    })
}

fn delta(version: u64, changes: Vec<Change>) -> TableMessage {
    TableMessage::Delta(Delta {
        version,
        changes,
        committed_unix_ms: None,
    })
}

fn kinds(changes: &[DomainChange]) -> Vec<(&str, ChangeKind)> {
    changes
        .iter()
        .map(|c| (c.domain.as_str(), c.kind))
        .collect()
}

fn cert(n: i64) -> CertificateRecord {
    CertificateRecord {
        chain_pem: format!("CHAIN{n}"),
        key_pem: format!("KEY{n}"),
        not_after_unix: n,
    }
}

#[test]
fn gateway_certificate_from_deltas_and_snapshots() {
    let gateway = |changes: &[DomainChange]| {
        changes
            .iter()
            .filter(|c| c.kind == ChangeKind::GatewayCertificateChanged)
            .count()
    };
    let mut table = Table::new();
    let changes = table.apply(snapshot(1)).unwrap();
    assert_eq!(gateway(&changes), 0);
    assert_eq!(table.gateway_certificate(), None);

    let changes = table
        .apply(delta(2, vec![Change::GatewayCertificate(Some(cert(1)))]))
        .unwrap();
    assert_eq!(
        kinds(&changes),
        [("", ChangeKind::GatewayCertificateChanged)]
    );
    assert!(!changes[0].drops_sessions());
    assert_eq!(table.gateway_certificate(), Some(&cert(1)));
    // The same certificate again is no change.
    let changes = table
        .apply(delta(3, vec![Change::GatewayCertificate(Some(cert(1)))]))
        .unwrap();
    assert!(changes.is_empty());
    assert_eq!(
        table.to_snapshot().unwrap().gateway_certificate,
        Some(cert(1))
    );

    // A chunked snapshot carries it in its first frame; a new one replaces it.
    let part = |version, certificate, more| {
        TableMessage::Snapshot(Snapshot {
            epoch: "e1".into(),
            version,
            more,
            gateway_certificate: certificate,
            ..Snapshot::default()
        })
    };
    assert!(
        table
            .apply(part(9, Some(cert(2)), true))
            .unwrap()
            .is_empty()
    );
    let changes = table.apply(part(9, None, false)).unwrap();
    assert_eq!(gateway(&changes), 1);
    assert_eq!(table.gateway_certificate(), Some(&cert(2)));
    // A snapshot without it (an older control-plane, or none issued) clears it.
    let changes = table.apply(part(10, None, false)).unwrap();
    assert_eq!(gateway(&changes), 1);
    assert_eq!(table.gateway_certificate(), None);
}
