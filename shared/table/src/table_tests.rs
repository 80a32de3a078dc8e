//! Unit tests of [`Table::apply`].

use super::*;
use crate::wire::CertificateRecord;

fn record(domain: &str, key: &str) -> DomainRecord {
    DomainRecord {
        domain: domain.into(),
        key_hash: hash_key(key),
        certificate: None,
        access: None,
    }
}

fn snapshot(version: u64, domains: Vec<DomainRecord>) -> TableMessage {
    TableMessage::Snapshot(Snapshot {
        epoch: "e1".into(),
        version,
        domains,
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

#[test]
fn snapshot_loads_and_verifies_keys() {
    let mut table = Table::new();
    assert!(!table.is_loaded());
    let changes = table
        .apply(snapshot(
            5,
            vec![record("a.test", "ka"), record("b.test", "kb")],
        ))
        .unwrap();
    assert_eq!(
        kinds(&changes),
        [("a.test", ChangeKind::Added), ("b.test", ChangeKind::Added)]
    );
    assert!(table.is_loaded());
    assert_eq!(table.since().unwrap().to_string(), "e1:5");
    assert_eq!(table.verify_key("a.test", "ka"), Ok(()));
    assert_eq!(table.verify_key("a.test", "kb"), Err(VerifyError::BadKey));
    assert_eq!(
        table.verify_key("c.test", "ka"),
        Err(VerifyError::UnknownDomain)
    );
}

#[test]
fn deltas_report_removed_and_rotated_domains() {
    let mut table = Table::new();
    table
        .apply(snapshot(
            1,
            vec![record("a.test", "ka"), record("b.test", "kb")],
        ))
        .unwrap();
    let changes = table
        .apply(delta(
            2,
            vec![
                Change::Upsert(record("a.test", "ka2")),
                Change::Remove {
                    domain: "b.test".into(),
                },
                Change::Upsert(record("c.test", "kc")),
                Change::Remove {
                    domain: "never.test".into(),
                },
            ],
        ))
        .unwrap();
    assert_eq!(
        kinds(&changes),
        [
            ("a.test", ChangeKind::KeyChanged),
            ("b.test", ChangeKind::Removed),
            ("c.test", ChangeKind::Added)
        ]
    );
    assert!(changes[0].drops_sessions() && changes[1].drops_sessions());
    assert!(!changes[2].drops_sessions());
    assert_eq!(table.version(), Some(2));
    assert_eq!(table.len(), 2);
    assert_eq!(table.verify_key("a.test", "ka"), Err(VerifyError::BadKey));
}

#[test]
fn same_record_again_is_no_change_and_certificates_are_separate() {
    let mut table = Table::new();
    table
        .apply(snapshot(1, vec![record("a.test", "ka")]))
        .unwrap();
    let same = table
        .apply(delta(2, vec![Change::Upsert(record("a.test", "ka"))]))
        .unwrap();
    assert!(same.is_empty());
    let mut with_cert = record("a.test", "ka");
    with_cert.certificate = Some(CertificateRecord {
        chain_pem: "c".into(),
        key_pem: "k".into(),
        not_after_unix: 9,
    });
    let changes = table
        .apply(delta(3, vec![Change::Upsert(with_cert)]))
        .unwrap();
    assert_eq!(
        kinds(&changes),
        [("a.test", ChangeKind::CertificateChanged)]
    );
    assert!(!changes[0].drops_sessions());
}

#[test]
fn versions_are_checked() {
    let mut table = Table::new();
    assert_eq!(
        table.apply(delta(1, vec![])),
        Err(ApplyError::NotLoaded { got: 1 })
    );
    table.apply(snapshot(3, vec![])).unwrap();
    assert_eq!(
        table.apply(delta(3, vec![])),
        Ok(vec![]),
        "duplicate ignored"
    );
    assert_eq!(
        table.apply(delta(5, vec![])),
        Err(ApplyError::Gap { have: 3, got: 5 })
    );
    assert_eq!(
        table.apply(TableMessage::Heartbeat { version: 4 }),
        Err(ApplyError::OutOfSync { have: 3, got: 4 })
    );
    assert_eq!(
        table.apply(TableMessage::Heartbeat { version: 3 }),
        Ok(vec![])
    );
}

#[test]
fn new_snapshot_diffs_against_the_old_table() {
    let mut table = Table::new();
    table
        .apply(snapshot(
            1,
            vec![record("a.test", "ka"), record("b.test", "kb")],
        ))
        .unwrap();
    let changes = table
        .apply(snapshot(
            9,
            vec![record("b.test", "kb2"), record("c.test", "kc")],
        ))
        .unwrap();
    assert_eq!(
        kinds(&changes),
        [
            ("a.test", ChangeKind::Removed),
            ("b.test", ChangeKind::KeyChanged),
            ("c.test", ChangeKind::Added)
        ]
    );
}

#[test]
fn chunked_snapshot_swaps_in_at_the_last_frame() {
    let mut table = Table::new();
    table
        .apply(snapshot(1, vec![record("old.test", "k")]))
        .unwrap();
    let part = |domains, more| {
        TableMessage::Snapshot(Snapshot {
            epoch: "e2".into(),
            version: 7,
            domains,
            more,
            ..Snapshot::default()
        })
    };
    assert!(
        table
            .apply(part(vec![record("a.test", "ka")], true))
            .unwrap()
            .is_empty()
    );
    assert!(table.get("old.test").is_some(), "old table still served");
    assert_eq!(
        table.apply(TableMessage::Heartbeat { version: 1 }),
        Ok(vec![])
    );
    let changes = table
        .apply(part(vec![record("b.test", "kb")], false))
        .unwrap();
    assert_eq!(changes.len(), 3);
    assert_eq!(table.since().unwrap().to_string(), "e2:7");
    assert!(table.get("old.test").is_none());

    table
        .apply(part(vec![record("x.test", "k")], true))
        .unwrap();
    let wrong = TableMessage::Snapshot(Snapshot {
        epoch: "e2".into(),
        version: 8,
        ..Snapshot::default()
    });
    assert!(matches!(
        table.apply(wrong),
        Err(ApplyError::BrokenSnapshot { .. })
    ));
}

#[test]
fn challenges_are_added_and_removed() {
    let mut table = Table::new();
    table.apply(snapshot(1, vec![])).unwrap();
    table
        .apply(delta(
            2,
            vec![Change::Challenge {
                token: "tok".into(),
                key_authorization: Some("tok.thumb".into()),
            }],
        ))
        .unwrap();
    assert_eq!(table.challenge("tok"), Some("tok.thumb"));
    table
        .apply(delta(
            3,
            vec![Change::Challenge {
                token: "tok".into(),
                key_authorization: None,
            }],
        ))
        .unwrap();
    assert_eq!(table.challenge("tok"), None);
}

#[test]
fn only_a_table_from_a_snapshot_with_access_policies_is_resumed_from() {
    let mut older = Table::new();
    older
        .apply(snapshot(3, vec![record("a.test", "k")]))
        .unwrap();
    assert_eq!(older.since().map(|s| s.version), Some(3));
    assert_eq!(older.resume_point(), None, "may lack restricted domains");
    let saved = older.to_snapshot().unwrap();
    assert!(!saved.access_policies);

    let mut current = Table::new();
    current
        .apply(TableMessage::Snapshot(Snapshot {
            epoch: "e1".into(),
            version: 3,
            domains: vec![record("a.test", "k")],
            access_policies: true,
            ..Snapshot::default()
        }))
        .unwrap();
    current
        .apply(delta(4, vec![Change::Upsert(record("b.test", "k"))]))
        .unwrap();
    assert_eq!(current.resume_point().map(|s| s.version), Some(4));
    // What the pod saves says so too, and loads back the same.
    let saved = current.to_snapshot().unwrap();
    assert!(saved.access_policies);
    let mut reloaded = Table::new();
    reloaded.apply(TableMessage::Snapshot(saved)).unwrap();
    assert_eq!(reloaded.resume_point().map(|s| s.version), Some(4));
}

#[test]
fn a_new_access_policy_is_its_own_kind_of_change() {
    let mut table = Table::new();
    table
        .apply(snapshot(1, vec![record("a.test", "k")]))
        .unwrap();
    let restricted = DomainRecord {
        access: Some(hopgate_access::AccessPolicy {
            deny_cidrs: vec!["10.0.0.0/8".parse().unwrap()],
            ..hopgate_access::AccessPolicy::default()
        }),
        ..record("a.test", "k")
    };
    let changes = table
        .apply(delta(2, vec![Change::Upsert(restricted.clone())]))
        .unwrap();
    assert_eq!(kinds(&changes), [("a.test", ChangeKind::AccessChanged)]);
    assert!(!changes[0].drops_sessions());
    assert_eq!(table.get("a.test"), Some(&restricted));
}
