//! The request inspector: the latest exchanges through the agent's tunnels, kept in
//! memory and shown on a web page and a JSON API (by default at `http://127.0.0.1:4040`),
//! with replay to the local service, as-is or edited.
//!
//! The forward path captures each exchange while it streams ([`capture`]: the heads and
//! a bounded prefix of each body, teed from the chunks going by) and hands it to the
//! [`store`] at its end, which keeps the newest within a count and a byte budget. The
//! listener ([`server`]) is bounded like the gateway's own (connections, head size and
//! time, body size) and refuses what a hostile web page could send it ([`guard`]: DNS
//! rebinding, cross-site requests); [`api`] answers the JSON API and the live stream,
//! [`page`] the page, and [`replay`] sends a stored request again through the tunnel's
//! own [`Forwarder`](crate::forward::Forwarder) path to the local service.
//!
//! The inspector is a convenience: an address that can't be bound is said on stderr and
//! in the log, and the tunnels run without it.

mod api;
mod capture;
mod events;
mod guard;
mod metrics;
mod page;
mod replay;
mod server;
mod store;
mod view;

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use slog::{Logger, info, warn};
use tokio::{net::TcpListener, task::JoinHandle};

use self::store::{Bounds, Store};
pub(crate) use self::{
    capture::{BodyPrefix, Capture, ResponseCapture},
    metrics::InspectorMetrics,
};
use crate::{config::InspectorSettings, forward::Forwarder, metrics::Metrics};

/// What a tunnel's forwarder captures its exchanges with.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    store: Arc<Store>,
    domain: Arc<str>,
}

impl Recorder {
    /// Starts capturing an exchange.
    pub(crate) fn begin(&self) -> Capture {
        Capture::new(self.store.clone(), self.domain.clone())
    }
}

/// The inspector, bound and not yet serving.
pub(crate) struct Inspector {
    listener: TcpListener,
    addr: SocketAddr,
    store: Arc<Store>,
    settings: InspectorSettings,
}

impl Inspector {
    /// Binds the inspector's listener; if that fails, says so (stderr and log) and
    /// returns `None`: the tunnels run without it.
    pub(crate) async fn bind(
        settings: &InspectorSettings,
        metrics: &Metrics,
        log: &Logger,
    ) -> Option<Self> {
        let bound = TcpListener::bind(settings.addr).await;
        let listener = match bound {
            Ok(listener) => listener,
            Err(err) => {
                eprintln!(
                    "inspector: cannot listen on {}: {err}; requests are not recorded \
                     (--inspect-addr picks another address, --inspect off turns it off)",
                    settings.addr
                );
                warn!(log, "inspector not started"; "inspect" => settings.addr.to_string(),
                    "error" => %err);
                return None;
            }
        };
        let addr = listener.local_addr().unwrap_or(settings.addr);
        let bounds = Bounds {
            max_exchanges: settings.max_exchanges,
            budget_bytes: settings.budget_bytes,
            body_prefix_bytes: settings.body_prefix_bytes,
        };
        Some(Self {
            listener,
            addr,
            store: Arc::new(Store::new(bounds, metrics.inspector.clone())),
            settings: settings.clone(),
        })
    }

    /// The recorder of the tunnel serving `domain`.
    pub(crate) fn recorder(&self, domain: &str) -> Recorder {
        Recorder {
            store: self.store.clone(),
            domain: domain.into(),
        }
    }

    /// Serves the page and API until the task is dropped; `forwarders` (by domain) send
    /// the replays.
    pub(crate) fn serve(
        self,
        forwarders: HashMap<String, Arc<Forwarder>>,
        log: &Logger,
    ) -> JoinHandle<()> {
        eprintln!(
            "inspector: http://{} shows the requests through the tunnel (replay them there)",
            self.addr
        );
        info!(log, "inspector listening"; "inspect" => self.addr.to_string());
        let app = Arc::new(api::App {
            store: self.store,
            forwarders,
            local_addr: self.addr,
            max_request_bytes: self.settings.max_request_bytes,
        });
        let limit = self.settings.max_connections;
        tokio::spawn(server::serve(self.listener, app, limit, log.clone()))
    }
}
