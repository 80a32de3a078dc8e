//! One pod's table stream: the subscription's initial frames, then every delta as it is
//! published, and a heartbeat every [`HEARTBEAT_INTERVAL`] carrying the last version sent
//! (so the pod can check it is in step). A pod that falls more than the broadcast queue
//! behind gets a fresh snapshot instead of silently missing deltas. The stream ends when
//! the hub is reset (the pod reconnects); actix drops it when the pod goes away.
//!
//! A pod that doesn't enforce access policies (it didn't ask with `access=1`) gets every
//! frame as [`TableMessage::without_access_policies`] makes it: restricted domains are not
//! sent to it at all.
//!
//! A pod that asked for placements (`placement=1`) also gets a [`Placement`] frame with
//! every live pod right after its initial frames, and then one with the pods whose report
//! changed each time the placement does (see [`Pods`](super::Pods)).

use std::{collections::VecDeque, io, sync::Arc};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use hopgate_table::{Delta, Encoder, HEARTBEAT_INTERVAL, Placement, PodSessions, TableMessage};
use slog::{Logger, error, info};
use tokio::{
    sync::{
        broadcast::{self, error::RecvError},
        watch,
    },
    time::{Instant, Interval, MissedTickBehavior},
};

use super::pods::PlacementMap;
use crate::hub::{Hub, Subscription};

/// The placement a stream follows, and what it last sent of it.
pub(crate) struct PlacementFeed {
    rx: watch::Receiver<Arc<PlacementMap>>,
    sent: Option<Arc<PlacementMap>>,
}

impl PlacementFeed {
    pub(crate) fn new(rx: watch::Receiver<Arc<PlacementMap>>) -> Self {
        Self { rx, sent: None }
    }

    /// The frame that brings the pod from what was sent to the current placement, if any.
    fn next_frame(&mut self) -> Option<TableMessage> {
        let now = self.rx.borrow_and_update().clone();
        let frame = match &self.sent {
            None => Placement {
                replace: true,
                pods: now.iter().map(|(pod, r)| pod_sessions(pod, r)).collect(),
            },
            Some(sent) => {
                let mut pods: Vec<PodSessions> = now
                    .iter()
                    .filter(|(pod, r)| sent.get(*pod) != Some(r))
                    .map(|(pod, r)| pod_sessions(pod, r))
                    .collect();
                pods.extend(
                    sent.keys()
                        .filter(|pod| !now.contains_key(*pod))
                        .map(|pod| PodSessions {
                            pod: pod.clone(),
                            relay_url: None,
                            domains: Vec::new(),
                        }),
                );
                if pods.is_empty() {
                    return None;
                }
                Placement {
                    replace: false,
                    pods,
                }
            }
        };
        self.sent = Some(now);
        Some(TableMessage::Placement(frame))
    }
}

fn pod_sessions(pod: &str, report: &super::pods::PodReport) -> PodSessions {
    PodSessions {
        pod: pod.to_owned(),
        relay_url: report.relay_url.clone(),
        domains: report.domains.iter().cloned().collect(),
    }
}

/// Resolves when the placement changed; never without a placement feed.
async fn placement_changed(feed: &mut Option<PlacementFeed>) {
    match feed {
        Some(feed) => {
            if feed.rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

struct Feed {
    hub: Arc<Hub>,
    queue: VecDeque<TableMessage>,
    rx: broadcast::Receiver<Arc<Delta>>,
    sent: u64,
    heartbeat: Interval,
    log: Logger,
    failed: bool,
    placement: Option<PlacementFeed>,
    /// The pod enforces access policies (`access=1`).
    enforces_access: bool,
}

/// What a pod asked for on its subscription URL.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Asked {
    /// `access=1`: it enforces access policies.
    pub(crate) access: bool,
}

/// The response body for `subscription`.
pub(crate) fn frames(
    hub: Arc<Hub>,
    subscription: Subscription,
    placement: Option<PlacementFeed>,
    asked: Asked,
    log: Logger,
) -> impl Stream<Item = Result<Bytes, io::Error>> + 'static {
    let mut heartbeat =
        tokio::time::interval_at(Instant::now() + HEARTBEAT_INTERVAL, HEARTBEAT_INTERVAL);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut queue: VecDeque<TableMessage> = subscription.initial.into();
    let mut placement = placement;
    if let Some(frame) = placement.as_mut().and_then(PlacementFeed::next_frame) {
        queue.push_back(frame);
    }
    let feed = Feed {
        hub,
        queue,
        rx: subscription.rx,
        sent: subscription.version,
        heartbeat,
        log,
        failed: false,
        placement,
        enforces_access: asked.access,
    };
    futures_util::stream::unfold(feed, |mut feed| async move {
        let item = feed.next().await?;
        Some((item, feed))
    })
}

impl Feed {
    async fn next(&mut self) -> Option<Result<Bytes, io::Error>> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(message) = self.queue.pop_front() {
                let message = if self.enforces_access {
                    message
                } else {
                    message.without_access_policies()
                };
                return Some(self.encode(&message));
            }
            tokio::select! {
                received = self.rx.recv() => match received {
                    Ok(delta) if delta.version <= self.sent => {}
                    Ok(delta) => {
                        self.sent = delta.version;
                        self.queue.push_back(TableMessage::Delta(Delta::clone(&delta)));
                    }
                    Err(RecvError::Lagged(missed)) => {
                        let fresh = self.hub.subscribe(None);
                        info!(self.log, "pod fell behind; sending a fresh snapshot";
                            "missed" => missed, "version" => fresh.version);
                        self.rx = fresh.rx;
                        self.sent = fresh.version;
                        self.queue.extend(fresh.initial);
                    }
                    Err(RecvError::Closed) => return None,
                },
                () = placement_changed(&mut self.placement) => {
                    if let Some(frame) = self.placement.as_mut().and_then(PlacementFeed::next_frame) {
                        self.queue.push_back(frame);
                    }
                }
                _ = self.heartbeat.tick() => {
                    let beat = TableMessage::Heartbeat { version: self.sent };
                    return Some(self.encode(&beat));
                }
            }
        }
    }

    fn encode(&mut self, message: &TableMessage) -> Result<Bytes, io::Error> {
        let mut frame = BytesMut::new();
        match Encoder::default().encode(message, &mut frame) {
            Ok(()) => Ok(frame.freeze()),
            Err(e) => {
                error!(self.log, "table frame not sent; closing the stream"; "error" => e.to_string());
                self.failed = true;
                Err(io::Error::other(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use futures_util::StreamExt;
    use hopgate_table::{Change, DomainRecord, Table};

    use super::*;
    use crate::{hub::RECENT, store::TableLoad};

    #[tokio::test]
    async fn a_lagging_pod_gets_a_fresh_snapshot() {
        let hub = Arc::new(Hub::new(TableLoad {
            epoch: "ep".into(),
            version: 0,
            domains: BTreeMap::new(),
            deltas: Vec::new(),
            gateway_certificate: None,
        }));
        let log = Logger::root(slog::Discard, slog::o!());
        let subscription = hub.subscribe(None);
        let stream = frames(hub.clone(), subscription, None, Asked::default(), log);
        let total = RECENT as u64 + 50;
        for version in 1..=total {
            hub.publish(Delta {
                version,
                changes: vec![Change::Upsert(DomainRecord {
                    domain: format!("d{version}.test"),
                    key_hash: [0; 32],
                    certificate: None,
                    access: None,
                })],
                committed_unix_ms: None,
            });
        }
        let mut stream = std::pin::pin!(stream);
        let mut table = Table::new();
        let mut snapshots = 0;
        while table.version() != Some(total) {
            let bytes = stream.next().await.unwrap().unwrap();
            let mut frame = BytesMut::from(&bytes[..]);
            let message = hopgate_table::Decoder::default()
                .decode(&mut frame)
                .unwrap()
                .unwrap();
            snapshots += usize::from(matches!(message, TableMessage::Snapshot(_)));
            table.apply(message).unwrap();
        }
        assert_eq!(table.len(), total as usize);
        assert!(
            snapshots >= 2,
            "the initial snapshot, then a fresh one after lagging"
        );
    }
}
