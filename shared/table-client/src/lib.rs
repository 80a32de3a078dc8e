//! `hopgate-table-client`: a data-plane pod's side of the table push (`hopgate-table`
//! holds the wire format and the table itself).
//!
//! A [`Subscriber`] keeps a [`Table`](hopgate_table::Table) in step with the
//! control-plane's stream, saves it after every change and loads it at start, so a pod
//! serves from its last copy while the control-plane is away; [`report_sessions`] tells
//! the control-plane which domains have a live agent session on the pod.
//!
//! A subscriber says it enforces access policies (`access=1`), so its table holds the
//! restricted domains with their [`DomainRecord::access`](hopgate_table::DomainRecord)
//! policies: whatever serves from it must check them.
//!
//! # Layout
//!
//! | module | concern |
//! | --- | --- |
//! | `subscriber` | [`Subscriber`]: the background task that keeps a table current, reconnecting with backoff (`hopgate-backoff`: first retry < 250 ms, cap 10 s) |
//! | `connection` | one subscription attempt (HTTP stream → frames → table) |
//! | `persist` | the snapshot file ([`SNAPSHOT_FILE`]): atomic save, load at start |
//! | `report` | [`report_sessions`]: the pod's list of domains with live sessions (and its relay port) |

mod connection;
mod persist;
mod report;
mod subscriber;

pub use persist::SNAPSHOT_FILE;
pub use report::{ReportError, report_sessions};
pub use subscriber::{Event, StartError, Subscriber, SubscriberConfig};
