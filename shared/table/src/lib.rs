//! `hopgate-table`: the routing table that the control-plane pushes to every data-plane
//! pod, shared by both ends.
//!
//! The control-plane owns the database; pods never touch it. A pod subscribes with
//! `GET /internal/v1/table?pod=POD&since=EPOCH:VERSION` (`Authorization: Bearer
//! <HOP_INTERNAL_TOKEN>`) and receives a long-lived body of frames: first a [`Snapshot`]
//! (or, when it resumes within the same epoch and the control-plane still has them, only
//! the [`Delta`]s it missed), then a [`Delta`] per committed change and a
//! [`TableMessage::Heartbeat`] every [`HEARTBEAT_INTERVAL`]. Versions grow by one per
//! delta; `epoch` identifies the control-plane's database (a pod with another epoch gets a
//! snapshot).
//!
//! # Layout
//!
//! | module | concern |
//! | --- | --- |
//! | `wire` | the messages ([`TableMessage`], [`DomainRecord`], [`Change`], [`Since`], [`Placement`]) and limits |
//! | `frame` | sans-IO framing: `u32` big-endian length + MessagePack; [`encode`], [`Decoder`] |
//! | `table` | [`Table`]: the pod's copy; [`Table::apply`] returns the [`DomainChange`]s |
//! | `persist` | the snapshot file: atomic save, load at start |
//! | `subscriber` | [`Subscriber`]: the background task that keeps a [`Table`] current, reconnecting with backoff (`hopgate-backoff`: first retry < 250 ms, cap 10 s) |
//! | `connection` | one subscription attempt (HTTP stream → frames → table) |
//! | `report` | [`report_sessions`]: the pod's list of domains with live sessions (and its relay URL) |

mod connection;
mod frame;
mod persist;
mod report;
mod subscriber;
mod table;
mod wire;

pub use connection::SubscribeError;
pub use frame::{DecodeError, Decoder, EncodeError, encode};
pub use persist::{PersistError, SNAPSHOT_FILE, encode_snapshot, load, save, write_atomically};
pub use report::{ReportError, report_sessions};
pub use subscriber::{
    Event, OnChange, OnEvent, OnPlacement, StartError, Subscriber, SubscriberConfig,
};
pub use table::{ApplyError, ChangeKind, DomainChange, Table, VerifyError, hash_key};
pub use wire::{
    BadSince, CertificateRecord, Change, DEAD_AFTER, Delta, DomainRecord, HEARTBEAT_INTERVAL,
    MAX_FRAME_LEN, MSGPACK_CONTENT_TYPE, PLACEMENT_QUERY, Placement, PodSessions, REPORT_INTERVAL,
    REPORT_TTL, SNAPSHOT_CHUNK, SessionReport, Since, Snapshot, TABLE_CONTENT_TYPE, TABLE_PATH,
    TableMessage, valid_pod_id,
};
