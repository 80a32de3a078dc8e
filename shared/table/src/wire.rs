//! The messages on the table stream and their limits.
//!
//! Every message is a MessagePack map with named fields (`rmp_serde::to_vec_named`), so
//! fields can be added later as `#[serde(default)]` without breaking older pods. Enums are
//! externally tagged (`{"Delta": {...}}`).
//!
//! # Session placement (cross-pod routing)
//!
//! Which pods hold a live agent session for which domain travels on the same stream as
//! [`TableMessage::Placement`], but outside the versioned table: it is soft state (rebuilt
//! from the pods' [`SessionReport`]s, which expire after [`REPORT_TTL`]), it is never
//! saved to the pod's snapshot file, and it does not move `version` (heartbeats still
//! check only the table's version). A new enum variant is a breaking change for a decoder
//! that doesn't know it (an old pod would fail to decode the frame and resubscribe in a
//! loop), so the control-plane sends placements only to pods that ask for them with
//! `placement=1` ([`PLACEMENT_QUERY`]) on the subscription URL. Old pods don't ask and see
//! the stream exactly as before; a new pod on an old control-plane gets no placements and
//! routes to local sessions only (the behaviour before cross-pod routing).
//!
//! The first placement on a stream has `replace: true` and lists every pod with a live
//! report (the pod drops whatever it knew); later ones list only the pods whose report
//! changed, a pod with no domains meaning "forget this pod" (its report expired or it has
//! no session left).
//!
//! # Access policies
//!
//! A domain's [`AccessPolicy`] rides in its [`DomainRecord::access`]. A pod built before
//! that field would ignore it and let everyone in, so the control-plane sends policies
//! only to pods that say they enforce them with `access=1` ([`ACCESS_QUERY`]); a pod that
//! doesn't say so is not told about restricted domains at all
//! ([`TableMessage::without_access_policies`]): it answers 404 for them and refuses their
//! agents, which is safe. Snapshots sent with policies say so ([`Snapshot::access_policies`]);
//! a pod whose table came from a snapshot without them (a file written before it was
//! upgraded) asks for a whole snapshot rather than the deltas since, or it would never
//! learn about the domains it wasn't told of.
//!
//! A pod never names its relay host: its report states only the relay listener's port
//! ([`SessionReport::relay_port`]) and whether it speaks TLS, and the control-plane builds
//! [`PodSessions::relay_url`] from the report's TCP source address. A report without a
//! port (an older pod's, whose `relay_url` field is ignored) makes no relay target.

use std::{collections::BTreeMap, fmt, str::FromStr, time::Duration};

use hopgate_access::AccessPolicy;
use serde::{Deserialize, Serialize};

/// The largest frame payload either side accepts (16 MiB).
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// How often the control-plane sends a [`TableMessage::Heartbeat`] on an idle stream.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);

/// A stream with no frame for this long is dead (three heartbeats).
pub const DEAD_AFTER: Duration = Duration::from_secs(6);

/// How often pods send their session report (and also whenever it changes).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// How long the control-plane believes a pod's report (three missed reports).
pub const REPORT_TTL: Duration = Duration::from_secs(30);

/// The most domains the control-plane puts in one snapshot frame; a bigger table is sent
/// as several [`Snapshot`] frames with `more: true` on all but the last.
pub const SNAPSHOT_CHUNK: usize = 512;

/// `Content-Type` of the table stream.
pub const TABLE_CONTENT_TYPE: &str = "application/vnd.hopgate.table+msgpack";

/// `Content-Type` of a MessagePack session report.
pub const MSGPACK_CONTENT_TYPE: &str = "application/msgpack";

/// Path of the table stream on the control-plane's internal listener.
pub const TABLE_PATH: &str = "/internal/v1/table";

/// One frame of the table stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableMessage {
    /// The whole table (possibly in several frames, see [`Snapshot::more`]).
    Snapshot(Snapshot),
    /// One committed change set; versions increase by one per delta.
    Delta(Delta),
    /// Nothing changed; `version` is the last version sent on this stream.
    Heartbeat { version: u64 },
    /// Where agents' sessions are (soft state, outside the versioned table; sent only to
    /// pods that ask with [`PLACEMENT_QUERY`], see the module docs).
    Placement(Placement),
}

/// The query parameter (`placement=1`) a pod adds to its subscription to receive
/// [`TableMessage::Placement`] frames.
pub const PLACEMENT_QUERY: (&str, &str) = ("placement", "1");

/// The query parameter (`access=1`) a pod adds to its subscription to say it enforces
/// [`DomainRecord::access`] (and so may be told about restricted domains).
pub const ACCESS_QUERY: (&str, &str) = ("access", "1");

/// Pods with live agent sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// `pods` is the whole picture: forget every pod not listed.
    pub replace: bool,
    pub pods: Vec<PodSessions>,
}

/// One pod's live sessions, as its last report said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSessions {
    pub pod: String,
    /// Where other pods relay requests for these domains (`https://10.0.3.7:8444`), built
    /// by the control-plane from the address the pod reported from; `None` when the pod
    /// has no relay listener.
    #[serde(default)]
    pub relay_url: Option<String>,
    /// Domains with a live session on the pod; empty: the pod has none (forget it).
    pub domains: Vec<String>,
}

/// The whole table at one version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Random id of the control-plane's database; versions are comparable only within one.
    pub epoch: String,
    pub version: u64,
    pub domains: Vec<DomainRecord>,
    /// Pending ACME HTTP-01 answers: token → key authorization.
    #[serde(default)]
    pub challenges: BTreeMap<String, String>,
    /// More frames of this snapshot follow; the pod swaps its table only after the last.
    #[serde(default)]
    pub more: bool,
    /// The main domain's (`HOP_SERVER_DOMAIN`) certificate, once ACME has issued one. Sent
    /// in the first frame of a snapshot only (absent from older control-plane streams).
    #[serde(default)]
    pub gateway_certificate: Option<CertificateRecord>,
    /// The domains' access policies are in this snapshot: it went to a pod that enforces
    /// them (see the module docs). Absent from older control-planes and older pods' files.
    #[serde(default)]
    pub access_policies: bool,
}

/// Changes committed together, as version `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    pub version: u64,
    pub changes: Vec<Change>,
    /// When the control-plane committed the change (unix milliseconds), so pods can
    /// measure propagation lag. Absent from older control-planes.
    #[serde(default)]
    pub committed_unix_ms: Option<u64>,
}

/// One change to the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// The domain is added, or its key or certificate changed.
    Upsert(DomainRecord),
    /// The domain is gone: pods drop its sessions.
    Remove { domain: String },
    /// An ACME HTTP-01 answer appears (`Some`) or goes away (`None`).
    Challenge {
        token: String,
        key_authorization: Option<String>,
    },
    /// The main domain's certificate was issued or renewed (`Some`) or dropped (`None`).
    /// (Pods built before this variant can't decode it: update pods before the
    /// control-plane.)
    GatewayCertificate(Option<CertificateRecord>),
}

/// What a pod knows about one domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainRecord {
    /// Lowercase ASCII (IDNA) name.
    pub domain: String,
    /// SHA-256 of the client API key's UTF-8 bytes.
    #[serde(with = "serde_bytes")]
    pub key_hash: [u8; 32],
    /// The domain's certificate, once ACME has issued one.
    #[serde(default)]
    pub certificate: Option<CertificateRecord>,
    /// Who may reach the domain; `None`: everyone. Sent only to pods that enforce it (see
    /// the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessPolicy>,
}

impl TableMessage {
    /// The message as a pod that doesn't enforce access policies may see it: restricted
    /// domains left out of a snapshot (which then doesn't claim to carry policies), and a
    /// delta's upsert of a restricted domain turned into its removal. Other messages are
    /// unchanged.
    pub fn without_access_policies(self) -> Self {
        match self {
            Self::Snapshot(mut snapshot) => {
                snapshot.domains.retain(|record| record.access.is_none());
                snapshot.access_policies = false;
                Self::Snapshot(snapshot)
            }
            Self::Delta(mut delta) => {
                for change in &mut delta.changes {
                    if let Change::Upsert(record) = change
                        && record.access.is_some()
                    {
                        let domain = std::mem::take(&mut record.domain);
                        *change = Change::Remove { domain };
                    }
                }
                Self::Delta(delta)
            }
            other => other,
        }
    }
}

/// A certificate and its key, PEM.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    pub chain_pem: String,
    pub key_pem: String,
    pub not_after_unix: i64,
}

impl fmt::Debug for CertificateRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateRecord")
            .field("chain_pem", &format_args!("{} bytes", self.chain_pem.len()))
            .field("key_pem", &"***")
            .field("not_after_unix", &self.not_after_unix)
            .finish()
    }
}

/// A pod's report of the domains with a live agent session on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionReport {
    pub domains: Vec<String>,
    /// The port other pods reach this pod's relay listener on, at the address the report
    /// comes from; `None`: no relay listener (or a pod built before this field).
    #[serde(default)]
    pub relay_port: Option<u16>,
    /// The relay listener speaks HTTPS.
    #[serde(default)]
    pub relay_tls: bool,
    /// Each live session of [`SessionReport::domains`] (a domain served by a pool has
    /// several); empty from a pod built before pools. For the admin API's view only: the
    /// placement is made of `domains`.
    #[serde(default)]
    pub sessions: Vec<ReportedSession>,
}

/// One live agent session as its pod reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedSession {
    pub domain: String,
    /// The pod's id for the session (its logs' `session_id`).
    pub id: u64,
    /// The agent joined the domain's pool.
    #[serde(default)]
    pub pooled: bool,
    /// When the session was admitted (Unix milliseconds).
    pub since_unix_ms: u64,
    /// Requests it carried when the report was made.
    pub in_flight: u64,
}

/// Whether `id` can name a pod: 1 to 128 characters of `[A-Za-z0-9._-]` (it travels in a
/// URL path and a query string unescaped).
pub fn valid_pod_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Where a pod's table stands: `epoch:version`, the `since` query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Since {
    pub epoch: String,
    pub version: u64,
}

impl fmt::Display for Since {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.version)
    }
}

/// A `since` value that isn't `EPOCH:VERSION`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected EPOCH:VERSION (an id of [0-9a-zA-Z-] and a number)")]
pub struct BadSince;

impl FromStr for Since {
    type Err = BadSince;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (epoch, version) = s.rsplit_once(':').ok_or(BadSince)?;
        let valid = !epoch.is_empty()
            && epoch.len() <= 64
            && epoch
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return Err(BadSince);
        }
        Ok(Self {
            epoch: epoch.to_owned(),
            version: version.parse().map_err(|_| BadSince)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delta from a control-plane built before `committed_unix_ms` still decodes.
    #[test]
    fn a_delta_without_a_commit_time_decodes() {
        #[derive(Serialize)]
        struct OldDelta {
            version: u64,
            changes: Vec<Change>,
        }
        #[derive(Serialize)]
        enum OldMessage {
            Delta(OldDelta),
        }
        let old = OldMessage::Delta(OldDelta {
            version: 5,
            changes: vec![Change::Remove {
                domain: "gone.example.com".into(),
            }],
        });
        let bytes = rmp_serde::to_vec_named(&old).unwrap();
        let decoded: TableMessage = rmp_serde::from_slice(&bytes).unwrap();
        let TableMessage::Delta(delta) = decoded else {
            panic!("{decoded:?}")
        };
        assert_eq!((delta.version, delta.committed_unix_ms), (5, None));
    }

    #[test]
    fn since_round_trips_and_rejects_garbage() {
        let since: Since = "0f3a-9b:42".parse().unwrap();
        assert_eq!(since.epoch, "0f3a-9b");
        assert_eq!(since.version, 42);
        assert_eq!(since.to_string(), "0f3a-9b:42");
        for bad in ["", "abc", ":1", "a:b", "a b:1", "a:-1"] {
            assert!(bad.parse::<Since>().is_err(), "{bad}");
        }
    }

    #[test]
    fn pod_ids() {
        assert!(valid_pod_id("pod-1.zone_a"));
        assert!(!valid_pod_id(""));
        assert!(!valid_pod_id("a/b"));
        assert!(!valid_pod_id(&"x".repeat(129)));
    }

    #[test]
    fn snapshot_without_gateway_certificate_still_decodes() {
        // What a control-plane from before the field sent.
        #[derive(Serialize)]
        struct OldSnapshot {
            epoch: String,
            version: u64,
            domains: Vec<DomainRecord>,
            challenges: BTreeMap<String, String>,
            more: bool,
        }
        let old = OldSnapshot {
            epoch: "e".into(),
            version: 3,
            domains: Vec::new(),
            challenges: BTreeMap::new(),
            more: false,
        };
        let bytes = rmp_serde::to_vec_named(&old).unwrap();
        let new: Snapshot = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(new.version, 3);
        assert_eq!(new.gateway_certificate, None);
    }

    #[test]
    fn gateway_certificate_change_round_trips() {
        let change = Change::GatewayCertificate(Some(CertificateRecord {
            chain_pem: "CHAIN".into(),
            key_pem: "KEY".into(),
            not_after_unix: 7,
        }));
        let bytes = rmp_serde::to_vec_named(&change).unwrap();
        assert_eq!(rmp_serde::from_slice::<Change>(&bytes).unwrap(), change);
    }

    #[test]
    fn an_old_report_decodes_without_a_relay_port() {
        #[derive(Serialize)]
        struct OldReport {
            domains: Vec<String>,
            relay_url: Option<String>,
        }
        let bytes = rmp_serde::to_vec_named(&OldReport {
            domains: vec!["a.test".into()],
            relay_url: Some("http://10.0.0.1:8444".into()),
        })
        .unwrap();
        let report: SessionReport = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(report.domains, ["a.test"]);
        assert_eq!((report.relay_port, report.relay_tls), (None, false));
        assert!(report.sessions.is_empty());
    }

    #[test]
    fn a_report_with_sessions_round_trips() {
        let report = SessionReport {
            domains: vec!["a.test".into()],
            relay_port: Some(8444),
            relay_tls: false,
            sessions: vec![
                ReportedSession {
                    domain: "a.test".into(),
                    id: 3,
                    pooled: true,
                    since_unix_ms: 1_700_000_000_000,
                    in_flight: 2,
                },
                ReportedSession {
                    domain: "a.test".into(),
                    id: 9,
                    pooled: true,
                    since_unix_ms: 1_700_000_000_500,
                    in_flight: 0,
                },
            ],
        };
        let bytes = rmp_serde::to_vec_named(&report).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<SessionReport>(&bytes).unwrap(),
            report
        );
    }

    #[test]
    fn placement_round_trips_and_an_old_decoder_rejects_it() {
        let message = TableMessage::Placement(Placement {
            replace: true,
            pods: vec![PodSessions {
                pod: "pod-a".into(),
                relay_url: Some("http://10.0.0.1:8444".into()),
                domains: vec!["a.test".into()],
            }],
        });
        let bytes = rmp_serde::to_vec_named(&message).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<TableMessage>(&bytes).unwrap(),
            message
        );
        // A pod from before the variant can't decode it: why the control-plane sends it
        // only to pods that ask (`placement=1`).
        #[derive(Deserialize)]
        #[allow(dead_code)]
        enum OldMessage {
            Snapshot(Snapshot),
            Delta(Delta),
            Heartbeat { version: u64 },
        }
        assert!(rmp_serde::from_slice::<OldMessage>(&bytes).is_err());
    }

    fn restricted(domain: &str) -> DomainRecord {
        DomainRecord {
            domain: domain.into(),
            key_hash: [1; 32],
            certificate: None,
            access: Some(AccessPolicy {
                allow_cidrs: vec!["10.0.0.0/8".parse().unwrap()],
                ..AccessPolicy::default()
            }),
        }
    }

    #[test]
    fn a_pod_that_doesnt_enforce_policies_never_sees_a_restricted_domain() {
        let open = DomainRecord {
            access: None,
            ..restricted("open.test")
        };
        let snapshot = TableMessage::Snapshot(Snapshot {
            epoch: "e".into(),
            version: 2,
            domains: vec![restricted("closed.test"), open.clone()],
            access_policies: true,
            ..Snapshot::default()
        });
        let TableMessage::Snapshot(seen) = snapshot.without_access_policies() else {
            panic!("not a snapshot")
        };
        assert_eq!(seen.domains, std::slice::from_ref(&open));
        assert!(!seen.access_policies);
        let delta = TableMessage::Delta(Delta {
            version: 3,
            changes: vec![
                Change::Upsert(restricted("closed.test")),
                Change::Upsert(open.clone()),
            ],
            committed_unix_ms: None,
        });
        let TableMessage::Delta(seen) = delta.without_access_policies() else {
            panic!("not a delta")
        };
        assert_eq!(
            seen.changes,
            [
                Change::Remove {
                    domain: "closed.test".into()
                },
                Change::Upsert(open)
            ]
        );
    }

    #[test]
    fn a_record_without_a_policy_encodes_as_before_and_an_old_one_decodes() {
        #[derive(Serialize, Deserialize)]
        struct OldRecord {
            domain: String,
            #[serde(with = "serde_bytes")]
            key_hash: [u8; 32],
            certificate: Option<CertificateRecord>,
        }
        let open = DomainRecord {
            access: None,
            ..restricted("open.test")
        };
        let bytes = rmp_serde::to_vec_named(&open).unwrap();
        let old: OldRecord = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(rmp_serde::to_vec_named(&old).unwrap(), bytes);
        assert_eq!(rmp_serde::from_slice::<DomainRecord>(&bytes).unwrap(), open);
        let closed = restricted("closed.test");
        let bytes = rmp_serde::to_vec_named(&closed).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<DomainRecord>(&bytes).unwrap(),
            closed
        );
    }

    #[test]
    fn certificate_debug_hides_the_key() {
        let cert = CertificateRecord {
            chain_pem: "CHAIN".into(),
            key_pem: "SECRET".into(),
            not_after_unix: 1,
        };
        assert!(!format!("{cert:?}").contains("SECRET"));
    }
}
