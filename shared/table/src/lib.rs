//! `hopgate-table`: the routing table that the control-plane pushes to every data-plane
//! pod: the wire format and the pod's copy, shared by both ends. Sans-IO: no HTTP, no
//! files, no runtime.
//!
//! The control-plane owns the database; pods never touch it. A pod subscribes with
//! `GET /internal/v1/table?pod=POD&since=EPOCH:VERSION` (`Authorization: Bearer
//! <HOP_INTERNAL_TOKEN>`) and receives a long-lived body of frames: first a [`Snapshot`]
//! (or, when it resumes within the same epoch and the control-plane still has them, only
//! the [`Delta`]s it missed), then a [`Delta`] per committed change and a
//! [`TableMessage::Heartbeat`] every [`HEARTBEAT_INTERVAL`]. Versions grow by one per
//! delta; `epoch` identifies the control-plane's database (a pod with another epoch gets a
//! snapshot). The pod's side of that HTTP exchange, with its snapshot file, is
//! `hopgate-table-client`.
//!
//! # Layout
//!
//! | module | concern |
//! | --- | --- |
//! | `wire` | the messages ([`TableMessage`], [`DomainRecord`] with its [`access`] policy, [`Change`], [`Since`], [`Placement`]) and limits |
//! | `frame` | sans-IO framing: `u32` big-endian length + MessagePack; [`Encoder`], [`Decoder`] |
//! | `table` | [`Table`]: the pod's copy; [`Table::apply`] returns the [`DomainChange`]s |

mod frame;
mod table;
mod wire;

pub use frame::{DecodeError, Decoder, EncodeError, Encoder};
pub use hopgate_access as access;
pub use table::{ApplyError, ChangeKind, DomainChange, Table, VerifyError, hash_key};
pub use wire::{
    ACCESS_QUERY, BadSince, CertificateRecord, Change, DEAD_AFTER, Delta, DomainRecord,
    HEARTBEAT_INTERVAL, MAX_FRAME_LEN, MSGPACK_CONTENT_TYPE, PLACEMENT_QUERY, Placement,
    PodSessions, REPORT_INTERVAL, REPORT_TTL, ReportedSession, SNAPSHOT_CHUNK, SessionReport,
    Since, Snapshot, TABLE_CONTENT_TYPE, TABLE_PATH, TableMessage, valid_pod_id,
};
