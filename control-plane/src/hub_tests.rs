//! Unit tests of the hub: resume vs snapshot, chunking, fan-out.

use hopgate_table::{Table, hash_key};

use super::*;

fn record(domain: &str) -> DomainRecord {
    DomainRecord {
        domain: domain.into(),
        key_hash: hash_key(domain),
        certificate: None,
        access: None,
    }
}

fn hub(n: usize) -> Hub {
    let domains = (0..n)
        .map(|i| {
            let r = record(&format!("d{i:05}.test"));
            (r.domain.clone(), r)
        })
        .collect();
    Hub::new(TableLoad {
        epoch: "ep".into(),
        version: 10,
        domains,
        deltas: Vec::new(),
        gateway_certificate: None,
    })
}

fn upsert(version: u64, domain: &str) -> Delta {
    Delta {
        version,
        changes: vec![Change::Upsert(record(domain))],
        committed_unix_ms: None,
    }
}

fn since(epoch: &str, version: u64) -> Since {
    Since {
        epoch: epoch.into(),
        version,
    }
}

#[test]
fn resume_gets_only_missed_deltas() {
    let hub = hub(1);
    hub.publish(upsert(11, "a.test"));
    hub.publish(upsert(12, "b.test"));
    let sub = hub.subscribe(Some(&since("ep", 11)));
    assert!(!sub.snapshot);
    assert_eq!(sub.version, 12);
    let [TableMessage::Delta(delta)] = sub.initial.as_slice() else {
        panic!("one delta: {:?}", sub.initial);
    };
    assert!(
        delta.committed_unix_ms.is_some(),
        "publish stamps the commit time"
    );
    let unstamped = Delta {
        committed_unix_ms: None,
        ..delta.clone()
    };
    assert_eq!(unstamped, upsert(12, "b.test"));
    let up_to_date = hub.subscribe(Some(&since("ep", 12)));
    assert!(up_to_date.initial.is_empty() && !up_to_date.snapshot);
}

#[test]
fn snapshot_when_resume_is_impossible() {
    let hub = hub(2);
    hub.publish(upsert(11, "a.test"));
    for s in [
        None,
        Some(since("other", 11)),
        Some(since("ep", 99)),
        Some(since("ep", 5)),
    ] {
        let sub = hub.subscribe(s.as_ref());
        assert!(sub.snapshot, "{s:?}");
        let mut table = Table::new();
        for m in sub.initial {
            table.apply(m).unwrap();
        }
        assert_eq!(table.version(), Some(11));
        assert_eq!(table.len(), 3);
    }
}

#[test]
fn big_tables_go_in_chunks() {
    let hub = hub(SNAPSHOT_CHUNK * 2 + 1);
    let sub = hub.subscribe(None);
    assert_eq!(sub.initial.len(), 3);
    let mut table = Table::new();
    for m in sub.initial {
        table.apply(m).unwrap();
    }
    assert_eq!(table.len(), SNAPSHOT_CHUNK * 2 + 1);
    let empty = self::hub(0).subscribe(None);
    assert_eq!(empty.initial.len(), 1);
}

#[tokio::test]
async fn published_deltas_reach_subscribers() {
    let hub = hub(0);
    let mut a = hub.subscribe(None).rx;
    let mut b = hub.subscribe(None).rx;
    hub.publish(upsert(11, "x.test"));
    assert_eq!(a.recv().await.unwrap().version, 11);
    assert_eq!(b.recv().await.unwrap().version, 11);
    assert_eq!(hub.since().version, 11);
    assert_eq!(hub.stats(), (1, 2));
}
