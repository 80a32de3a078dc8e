//! The pod side of the table push: a background task that keeps a [`Table`] in step with
//! the control-plane, saves it to the state directory after every change, and loads it
//! from there at start so a pod can serve while the control-plane is unreachable.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hopgate_table_client::StartError> {
//! use hopgate_table_client::{Subscriber, SubscriberConfig};
//!
//! let config = SubscriberConfig::new("http://127.0.0.1:8082", "internal-token", "pod-1")
//!     .state_dir("/var/lib/hopgate");
//! let subscriber = Subscriber::start(config, |table, changes| {
//!     for change in changes.iter().filter(|c| c.drops_sessions()) {
//!         println!("drop sessions of {}", change.domain);
//!     }
//!     println!("{} domains at {:?}", table.len(), table.since());
//! })?;
//! let view = subscriber.table(); // Arc<Table>, cheap to take on every request
//! # drop(view);
//! # Ok(())
//! # }
//! ```

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use hopgate_backoff::Backoff;
use hopgate_table::{ChangeKind, DEAD_AFTER, DomainChange, Placement, Since, Table};
use tokio::sync::watch;

use crate::{
    connection,
    persist::{self, SNAPSHOT_FILE},
};

/// The longest first delay before resubscribing.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// No delay before resubscribing is longer than this.
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Called after every change with the new table and what changed in it.
pub(crate) type OnChange = dyn Fn(&Table, &[DomainChange]) + Send + Sync;

/// Called on connection events (for the caller's logs).
pub(crate) type OnEvent = dyn Fn(&Event) + Send + Sync;

/// Called with every [`Placement`] frame (see [`SubscriberConfig::on_placement`]).
pub(crate) type OnPlacement = dyn Fn(&Placement) + Send + Sync;

/// Something the caller may want to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The table was loaded from the snapshot file at start.
    LoadedFromDisk(Since),
    /// The snapshot file exists but can't be used; it is ignored (and later replaced).
    DiskUnusable(String),
    /// The stream is open.
    Connected,
    /// The stream broke or couldn't be opened; the next attempt is in `retry_in`.
    Disconnected { error: String, retry_in: Duration },
    /// The snapshot file couldn't be written.
    SaveFailed(String),
}

/// Where and how to subscribe.
#[derive(Clone)]
pub struct SubscriberConfig {
    /// The control-plane's internal listener, e.g. `http://127.0.0.1:8082`.
    pub control_plane_url: String,
    /// `HOP_INTERNAL_TOKEN`.
    pub token: String,
    /// This pod's id (`[A-Za-z0-9._-]`, at most 128 characters).
    pub pod_id: String,
    /// Where the last snapshot is kept (`HOP_SERVER_STATE_DIR`); `None` keeps nothing.
    pub state_dir: Option<PathBuf>,
    /// A stream with no frame for this long is reconnected.
    pub dead_after: Duration,
    /// The only root an `https://` control-plane is verified against
    /// ([`SubscriberConfig::trust_only`]); `None`: the built-in public roots.
    pub(crate) trusted_ca: Option<reqwest::Certificate>,
    pub(crate) on_event: Option<Arc<OnEvent>>,
    pub(crate) on_placement: Option<Arc<OnPlacement>>,
}

impl std::fmt::Debug for SubscriberConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberConfig")
            .field("control_plane_url", &self.control_plane_url)
            .field("token", &"***")
            .field("pod_id", &self.pod_id)
            .field("state_dir", &self.state_dir)
            .field("dead_after", &self.dead_after)
            .field("trusted_ca", &self.trusted_ca.is_some())
            .finish_non_exhaustive()
    }
}

impl SubscriberConfig {
    pub fn new(control_plane_url: &str, token: &str, pod_id: &str) -> Self {
        Self {
            control_plane_url: control_plane_url.to_owned(),
            token: token.to_owned(),
            pod_id: pod_id.to_owned(),
            state_dir: None,
            dead_after: DEAD_AFTER,
            trusted_ca: None,
            on_event: None,
            on_placement: None,
        }
    }

    /// Keep the last snapshot in `dir` (created if missing).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Verify an `https://` control-plane against `ca` alone (`HOP_CONTROL_PLANE_CA`).
    pub fn trust_only(mut self, ca: reqwest::Certificate) -> Self {
        self.trusted_ca = Some(ca);
        self
    }

    /// Ask for session placements (`placement=1`) and hand each one to `f` (they are not
    /// part of the table: not versioned, not saved).
    pub fn on_placement(mut self, f: impl Fn(&Placement) + Send + Sync + 'static) -> Self {
        self.on_placement = Some(Arc::new(f));
        self
    }

    /// Report connection events to `f`.
    pub fn on_event(mut self, f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }
}

/// Why [`Subscriber::start`] refused.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("control-plane URL '{url}': {reason}")]
    BadUrl { url: String, reason: String },
    #[error("pod id must be 1-128 characters of [A-Za-z0-9._-]")]
    BadPodId,
    #[error("the internal token is empty or not valid in an HTTP header")]
    BadToken,
    #[error("state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Subscriber::start must be called inside a tokio runtime")]
    NoRuntime,
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// State shared by the handle and the task.
pub(crate) struct Shared {
    pub(crate) table: Mutex<Table>,
    pub(crate) view: watch::Sender<Arc<Table>>,
    pub(crate) connected: AtomicBool,
    pub(crate) last_error: Mutex<Option<String>>,
    pub(crate) snapshot_path: Option<PathBuf>,
    pub(crate) on_change: Box<OnChange>,
    pub(crate) on_event: Option<Arc<OnEvent>>,
    pub(crate) on_placement: Option<Arc<OnPlacement>>,
}

impl Shared {
    pub(crate) fn event(&self, event: Event) {
        if let Some(f) = &self.on_event {
            f(&event);
        }
    }
}

/// A running subscription; dropping it stops the task.
pub struct Subscriber {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    /// Loads the snapshot file (if any, calling `on_change` with it before returning), then
    /// subscribes in a background task that reconnects forever.
    pub fn start(
        config: SubscriberConfig,
        on_change: impl Fn(&Table, &[DomainChange]) + Send + Sync + 'static,
    ) -> Result<Self, StartError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let request = connection::Request::new(&config)?;
        let snapshot_path = match &config.state_dir {
            Some(dir) => {
                hopgate_private_files::ensure_private_dir(dir).map_err(|source| {
                    StartError::StateDir {
                        path: dir.clone(),
                        source,
                    }
                })?;
                Some(dir.join(SNAPSHOT_FILE))
            }
            None => None,
        };
        let mut table = Table::new();
        let mut startup_event = None;
        if let Some(path) = &snapshot_path {
            match persist::load(path) {
                Ok(Some(loaded)) => {
                    startup_event = loaded.since().cloned().map(Event::LoadedFromDisk);
                    table = loaded;
                }
                Ok(None) => {}
                Err(e) => startup_event = Some(Event::DiskUnusable(e.to_string())),
            }
        }
        let view = Arc::new(table.clone());
        let shared = Arc::new(Shared {
            table: Mutex::new(table),
            view: watch::Sender::new(view.clone()),
            connected: AtomicBool::new(false),
            last_error: Mutex::new(None),
            snapshot_path,
            on_change: Box::new(on_change),
            on_event: config.on_event.clone(),
            on_placement: config.on_placement.clone(),
        });
        if let Some(event) = startup_event {
            shared.event(event);
        }
        if view.is_loaded() {
            let mut changes: Vec<DomainChange> = view
                .domains()
                .map(|r| DomainChange {
                    domain: r.domain.clone(),
                    kind: ChangeKind::Added,
                })
                .collect();
            changes.sort_by(|a, b| a.domain.cmp(&b.domain));
            (shared.on_change)(&view, &changes);
        }
        let task = runtime.spawn(run(shared.clone(), request));
        Ok(Self { shared, task })
    }

    /// The current table (cheap: an `Arc`).
    pub fn table(&self) -> Arc<Table> {
        self.shared.view.borrow().clone()
    }

    /// A receiver that sees every new table.
    pub fn watch(&self) -> watch::Receiver<Arc<Table>> {
        self.shared.view.subscribe()
    }

    /// Whether a table is loaded (from the control-plane or the file).
    pub fn is_loaded(&self) -> bool {
        self.shared.view.borrow().is_loaded()
    }

    /// `epoch:version` of the current table.
    pub fn since(&self) -> Option<Since> {
        self.shared.view.borrow().since().cloned()
    }

    /// The current version.
    pub fn version(&self) -> Option<u64> {
        self.shared.view.borrow().version()
    }

    /// Whether the stream is open right now.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Why the last connection attempt or stream failed (kept after a reconnect).
    pub fn last_error(&self) -> Option<String> {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(shared: Arc<Shared>, request: connection::Request) {
    let mut backoff = Backoff::new(FIRST_RETRY, MAX_RETRY);
    loop {
        let outcome = connection::run_once(&shared, &request).await;
        shared.connected.store(false, Ordering::Relaxed);
        if outcome.delivered {
            backoff.reset();
        }
        let retry_in = backoff.next_delay();
        let error = outcome.error.to_string();
        *shared
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error.clone());
        shared.event(Event::Disconnected { error, retry_in });
        tokio::time::sleep(retry_in).await;
    }
}
