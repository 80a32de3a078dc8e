//! Gateway side: which stream-layer connection rides on which DTLS association.
//!
//! One task owns the map, so the rules stay in one place:
//! - an association carries at most one live connection; a newer one (an agent that retried
//!   its handshake) replaces the older;
//! - when a connection ends, its association is closed — unless a newer connection took it;
//! - when an association ends first (close_notify, a restarted agent, expiry), its
//!   connection is closed at once with that reason, rather than after the idle timeout;
//! - a stream-layer handshake that fails frees its association if nothing else uses it.
//!
//! Associations are known by id, not address: an association moves when its agent's NAT
//! rebinds (`dtls/migration.rs`).

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use tokio::sync::mpsc;

use crate::{dtls::PeerEvent, session::CLOSE_GRACE, socket::DtlsSocket};

/// What the accept path and sessions tell the supervisor.
pub(crate) enum Notice {
    /// A connection completed its handshake on association `id`.
    Registered {
        id: u64,
        conn: quinn::Connection,
        reason: Arc<OnceLock<String>>,
    },
    /// The connection `stable_id` on association `id` ended.
    Ended {
        id: u64,
        stable_id: usize,
        reason: String,
    },
    /// A handshake on association `id` failed.
    HandshakeFailed { id: u64, reason: String },
}

struct Live {
    conn: quinn::Connection,
    reason: Arc<OnceLock<String>>,
}

pub(crate) async fn run(
    socket: Arc<DtlsSocket>,
    mut events: mpsc::UnboundedReceiver<PeerEvent>,
    mut notices: mpsc::UnboundedReceiver<Notice>,
) {
    let mut live: HashMap<u64, Live> = HashMap::new();
    let close_association = |id: u64, reason: String, delay: Duration| {
        let socket = socket.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            socket.with_table(|table, out| table.remove_if(Instant::now(), id, &reason, out));
        });
    };
    loop {
        tokio::select! {
            notice = notices.recv() => match notice {
                Some(Notice::Registered { id, conn, reason }) => {
                    if let Some(old) = live.insert(id, Live { conn, reason }) {
                        old.conn.close(0u32.into(), b"replaced by a newer session");
                    }
                }
                Some(Notice::Ended { id, stable_id, reason }) => {
                    let ours = live.get(&id).is_some_and(|l| l.conn.stable_id() == stable_id);
                    if ours {
                        live.remove(&id);
                        // After quinn's CONNECTION_CLOSE, so the agent learns the reason.
                        close_association(id, reason, CLOSE_GRACE);
                    }
                }
                Some(Notice::HandshakeFailed { id, reason }) => {
                    if !live.contains_key(&id) {
                        close_association(id, reason, Duration::ZERO);
                    }
                }
                None => return,
            },
            event = events.recv() => match event {
                Some(PeerEvent::Closed { id, reason, .. }) => {
                    if let Some(gone) = live.remove(&id) {
                        let _ = gone.reason.set(format!("DTLS session ended: {reason}"));
                        gone.conn.close(0u32.into(), reason.as_bytes());
                    }
                }
                Some(PeerEvent::Established { .. }) => {}
                None => return,
            },
        }
    }
}
