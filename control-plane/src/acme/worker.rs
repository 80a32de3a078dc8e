//! The ACME worker: one task that keeps every certificate current. It holds a schedule
//! (name → when to order next), runs at most [`MAX_ORDERS`] orders at once, renews when
//! the renewal time comes, retries failures with exponential backoff
//! (`HOP_ACME_RETRY_MIN` doubling to `HOP_ACME_RETRY_MAX`), and drops a name's schedule
//! and in-flight order when it is unregistered. Statuses go to the database for the
//! admin API.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use hopgate_table::CertificateRecord;
use instant_acme::Account;
use slog::{Logger, info, warn};
use tokio::{sync::mpsc, task::JoinSet, time::Instant};

use super::{
    Event, Stats,
    cert::{renew_at, until, validity},
    order::{ChallengeBoard, OrderError, issue},
    publish::CHALLENGE_GRACE,
    settings::AcmeSettings,
};
use crate::{
    service::Domains,
    store::{CertOwner, StoreError},
};

/// Orders in flight at once.
pub(crate) const MAX_ORDERS: usize = 4;

/// Tokens published per name, withdrawn when its order ends (or is cancelled).
type Tokens = Arc<Mutex<HashMap<CertOwner, Vec<String>>>>;

/// Publishes one order's answers to the table and remembers them.
struct Board {
    domains: Arc<Domains>,
    owner: CertOwner,
    tokens: Tokens,
}

impl ChallengeBoard for Board {
    async fn add(&self, name: &str, token: &str, answer: &str) -> Result<(), StoreError> {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(self.owner.clone())
            .or_default()
            .push(token.to_owned());
        self.domains
            .publish_challenge(name, token, Some(answer))
            .await?;
        tokio::time::sleep(CHALLENGE_GRACE).await;
        Ok(())
    }
}

/// A name's place in the schedule.
struct Slot {
    at: Instant,
    failures: u32,
}

pub(crate) struct Worker {
    pub(crate) settings: AcmeSettings,
    pub(crate) domains: Arc<Domains>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) log: Logger,
}

type Done = (CertOwner, Result<CertificateRecord, OrderError>);

impl Worker {
    /// Runs until the event channel closes.
    pub(crate) async fn run(self, account: Account, mut events: mpsc::UnboundedReceiver<Event>) {
        let tokens: Tokens = Arc::default();
        let mut due: BTreeMap<CertOwner, Slot> = BTreeMap::new();
        let mut running: HashMap<CertOwner, tokio::task::AbortHandle> = HashMap::new();
        let mut tasks: JoinSet<Done> = JoinSet::new();
        for (owner, at) in self.initial_schedule().await {
            due.insert(owner, Slot { at, failures: 0 });
        }
        loop {
            let next = due
                .iter()
                .filter(|(owner, _)| !running.contains_key(*owner))
                .map(|(_, slot)| slot.at)
                .min();
            let can_start = running.len() < MAX_ORDERS && next.is_some();
            let wake = next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                event = events.recv() => match event {
                    Some(Event::Registered(domain)) => {
                        due.insert(CertOwner::Domain(domain), Slot { at: Instant::now(), failures: 0 });
                    }
                    Some(Event::Unregistered(domain)) => {
                        let owner = CertOwner::Domain(domain);
                        due.remove(&owner);
                        if let Some(task) = running.remove(&owner) {
                            task.abort();
                            info!(self.log, "ACME order cancelled: domain unregistered";
                                "domain" => owner.name());
                        }
                        self.withdraw(&tokens, &owner).await;
                    }
                    None => return,
                },
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    // An aborted task (unregistered) was already cleaned up.
                    let Ok((owner, result)) = joined else { continue };
                    if running.remove(&owner).is_none() {
                        continue;
                    }
                    self.withdraw(&tokens, &owner).await;
                    let failures = due.get(&owner).map_or(0, |slot| slot.failures);
                    match self.finish(&owner, result, failures).await {
                        Some(slot) => { due.insert(owner, slot); }
                        None => { due.remove(&owner); }
                    }
                }
                () = tokio::time::sleep_until(wake), if can_start => {
                    let now = Instant::now();
                    let ready: Vec<CertOwner> = due
                        .iter()
                        .filter(|(owner, slot)| slot.at <= now && !running.contains_key(*owner))
                        .map(|(owner, _)| owner.clone())
                        .take(MAX_ORDERS - running.len())
                        .collect();
                    for owner in ready {
                        let board = Board {
                            domains: self.domains.clone(),
                            owner: owner.clone(),
                            tokens: tokens.clone(),
                        };
                        let account = account.clone();
                        info!(self.log, "ACME order started"; "domain" => owner.name());
                        let task = tasks.spawn(async move {
                            let result = issue(&account, board.owner.name(), &board).await;
                            (board.owner, result)
                        });
                        running.insert(owner, task);
                    }
                }
            }
        }
    }

    /// Every stored name, due now (no certificate) or at its renewal time.
    async fn initial_schedule(&self) -> Vec<(CertOwner, Instant)> {
        let stored = loop {
            match self.domains.store.certificates().await {
                Ok(stored) => break stored,
                Err(e) => {
                    warn!(self.log, "ACME: cannot read certificates; retrying";
                        "error" => e.to_string());
                    tokio::time::sleep(self.settings.retry_min).await;
                }
            }
        };
        let now = Instant::now();
        stored
            .into_iter()
            .map(|cert| {
                let at = cert
                    .chain_pem
                    .as_deref()
                    .and_then(|pem| validity(pem).ok())
                    .map_or(now, |v| {
                        now + until(renew_at(v, self.settings.renew_before))
                    });
                (cert.owner, at)
            })
            .collect()
    }

    /// Records an order's outcome; returns when to order next (`None`: the name is gone).
    async fn finish(
        &self,
        owner: &CertOwner,
        result: Result<CertificateRecord, OrderError>,
        failures: u32,
    ) -> Option<Slot> {
        let settings = &self.settings;
        let failed = match result {
            Ok(cert) => {
                let not_after = cert.not_after_unix;
                let renew = validity(&cert.chain_pem)
                    .map(|v| until(renew_at(v, settings.renew_before)))
                    .unwrap_or_default();
                match self.domains.publish_certificate(owner, cert).await {
                    Ok(version) => {
                        self.stats.valid.inc();
                        info!(self.log, "certificate issued"; "domain" => owner.name(),
                            "not_after" => not_after, "version" => version);
                        // Never sooner than HOP_ACME_RETRY_MIN after an issue.
                        let at = Instant::now() + renew.max(settings.retry_min);
                        return Some(Slot { at, failures: 0 });
                    }
                    Err(StoreError::NotFound) => return None,
                    Err(e) => OrderError::Table(e),
                }
            }
            Err(e) => e,
        };
        self.stats.failed.inc();
        let failures = failures + 1;
        let wait = backoff(settings.retry_min, settings.retry_max, failures);
        let reason = failed.to_string();
        warn!(self.log, "ACME order failed"; "domain" => owner.name(), "error" => &reason,
            "failures" => failures, "retry_in" => format!("{wait:?}"));
        self.set_status(owner, &format!("failed: {reason}")).await;
        Some(Slot {
            at: Instant::now() + wait,
            failures,
        })
    }

    async fn set_status(&self, owner: &CertOwner, status: &str) {
        if let Err(e) = self.domains.store.set_cert_status(owner, status).await {
            warn!(self.log, "ACME: cannot store a status"; "domain" => owner.name(),
                "error" => e.to_string());
        }
    }

    /// Removes a name's published answers from the table.
    async fn withdraw(&self, tokens: &Tokens, owner: &CertOwner) {
        let taken = tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(owner)
            .unwrap_or_default();
        for token in taken {
            if let Err(e) = self
                .domains
                .publish_challenge(owner.name(), &token, None)
                .await
            {
                warn!(self.log, "ACME: cannot withdraw a challenge answer";
                    "domain" => owner.name(), "error" => e.to_string());
            }
        }
    }
}

/// `min · 2^(failures-1)`, at most `max`.
pub(crate) fn backoff(min: Duration, max: Duration, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(30));
    min.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (min, max) = (Duration::from_secs(30), Duration::from_secs(3600));
        let waits: Vec<u64> = (1..=9).map(|n| backoff(min, max, n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(min, max, u32::MAX), max);
    }
}
