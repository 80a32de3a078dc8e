//! ACME (RFC 8555) with instant-acme: certificates for the main domain
//! (`HOP_SERVER_DOMAIN`) and every registered domain, validated over HTTP-01 by whichever
//! data-plane pod the ACME server reaches (the answers travel in the pushed table), stored
//! in the database and pushed to the pods with the table.
//!
//! - `settings`: `HOP_ACME_…`; `HOP_ACME_DIR` unset = off.
//! - `account`: the account, created once per directory and kept in the database.
//! - `order`: one order for one name (answers published before the server looks).
//! - `publish`: ACME's table writes (challenge answers, certificates).
//! - `worker`: the schedule: order at registration, renew, retry with backoff, cancel on
//!   unregistration.
//! - `cert`: validity and renewal time of a chain.
//!
//! Private keys (the account's, the certificates') are never logged: they travel only in
//! the database and the authenticated table stream.

mod account;
mod cert;
mod order;
mod publish;
mod settings;
mod worker;

use std::sync::Arc;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};

use slog::{Logger, info, warn};
use tokio::sync::mpsc;

pub(crate) use self::settings::{AcmeSettings, DEFAULT_RETRY_MAX, DEFAULT_RETRY_MIN};
use self::worker::{Worker, backoff};
use crate::service::Domains;

/// What the worker is told.
#[derive(Debug)]
pub(crate) enum Event {
    Registered(String),
    Unregistered(String),
}

/// Orders finished, by result: `hopgate_acme_orders_total{result}` on `/metrics`.
#[derive(Debug)]
pub(crate) struct Stats {
    pub(crate) valid: Counter,
    pub(crate) failed: Counter,
    /// Both counters as one labelled family, for the registry.
    pub(crate) family: Family<OrderResult, Counter>,
}

/// The `result` label of `hopgate_acme_orders_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct OrderResult {
    result: &'static str,
}

impl Default for Stats {
    fn default() -> Self {
        let family = Family::<OrderResult, Counter>::default();
        let counter = |result| family.get_or_create(&OrderResult { result }).clone();
        Self {
            valid: counter("valid"),
            failed: counter("failed"),
            family,
        }
    }
}

/// The handle the admin API uses; `None` inside = ACME is off.
#[derive(Clone, Default)]
pub(crate) struct Acme {
    events: Option<mpsc::UnboundedSender<Event>>,
    pub(crate) stats: Arc<Stats>,
}

impl Acme {
    /// Whether certificates are ordered at all.
    pub(crate) fn enabled(&self) -> bool {
        self.events.is_some()
    }

    /// A domain was registered: order its certificate now.
    pub(crate) fn registered(&self, domain: &str) {
        self.send(Event::Registered(domain.to_owned()));
    }

    /// A domain was unregistered: forget it and cancel its order.
    pub(crate) fn unregistered(&self, domain: &str) {
        self.send(Event::Unregistered(domain.to_owned()));
    }

    fn send(&self, event: Event) {
        if let Some(tx) = &self.events {
            // The worker lives as long as the process; a closed channel means shutdown.
            let _ = tx.send(event);
        }
    }
}

/// Starts the worker (on the current runtime) if ACME is configured; logs either way.
/// The event queue is unbounded: it carries one small message per admin write.
pub(crate) fn start(settings: Option<AcmeSettings>, domains: Arc<Domains>, log: &Logger) -> Acme {
    let Some(settings) = settings else {
        info!(
            log,
            "ACME is off (HOP_ACME_DIR is unset): no certificates will be ordered"
        );
        return Acme::default();
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let acme = Acme {
        events: Some(tx),
        stats: Arc::default(),
    };
    let log = log.new(slog::o!("component" => "acme"));
    info!(log, "ACME is on"; "directory" => &settings.directory,
        "ca_root" => settings.ca_root.as_ref().map(|p| p.display().to_string()));
    let stats = acme.stats.clone();
    actix_web::rt::spawn(async move {
        let mut attempt = 0;
        let account = loop {
            match account::load_or_create(&settings, &domains.store).await {
                Ok((account, created)) => {
                    info!(log, "ACME account ready"; "created" => created, "id" => account.id());
                    break account;
                }
                Err(e) => {
                    attempt += 1;
                    let wait = backoff(settings.retry_min, settings.retry_max, attempt);
                    warn!(log, "ACME account unavailable; retrying"; "error" => e.to_string(),
                        "retry_in" => format!("{wait:?}"));
                    tokio::time::sleep(wait).await;
                }
            }
        };
        let worker = Worker {
            settings,
            domains,
            stats,
            log,
        };
        worker.run(account, rx).await;
    });
    acme
}
