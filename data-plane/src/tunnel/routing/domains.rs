//! The domain map and the remote map: which domains the gateway serves (the agents' hello
//! is checked against their key hashes, visitors against their access policies), and
//! which other pods hold a session for which domain. Both are replaced whole when the
//! control-plane pushes a change, so requests read them without waiting.

use std::{collections::HashMap, sync::Arc};

use hopgate_protocol::HelloCode;
use hopgate_table::access::AccessPolicy;
use subtle::ConstantTimeEq;

use super::{DomainEntry, RelayTargets, RoutingTable, SessionHandle, hash_key};

impl RoutingTable {
    /// Replaces the domain table; sessions of domains no longer present are returned so
    /// the caller can drop them.
    pub(crate) fn set_domains(&self, domains: HashMap<String, DomainEntry>) -> Vec<SessionHandle> {
        self.domains.store(Arc::new(domains));
        let domains = self.domains.load();
        let stale: Vec<String> = self
            .sessions
            .iter()
            .filter(|entry| !domains.contains_key(entry.key()))
            .map(|entry| entry.key().clone())
            .collect();
        stale.iter().flat_map(|d| self.take(d)).collect()
    }

    /// Checks an agent's hello: the domain exists and the key's hash matches, compared in
    /// constant time.
    pub(crate) fn verify(&self, domain: &str, key: &str) -> Result<(), HelloCode> {
        let domains = self.domains.load();
        let entry = domains.get(domain).ok_or(HelloCode::UnknownDomain)?;
        if bool::from(hash_key(key).ct_eq(&entry.key_hash)) {
            Ok(())
        } else {
            Err(HelloCode::BadKey)
        }
    }

    /// The access policy of `host`, if it is a domain of the table and has one.
    pub(crate) fn access(&self, host: &str) -> Option<Arc<AccessPolicy>> {
        self.domains.load().get(host)?.access.clone()
    }

    /// Whether `host` is a domain of the table (served, whether or not its agent is live).
    pub(crate) fn is_registered(&self, host: &str) -> bool {
        self.domains.load().contains_key(host)
    }

    /// Replaces the map of domains with a session on other pods.
    pub(crate) fn set_remote(&self, remote: HashMap<String, RelayTargets>) {
        self.remote.store(Arc::new(remote));
        self.placements_moved();
    }

    /// How many domains have their session on another pod only as far as this pod knows
    /// (for `/metrics`).
    pub(crate) fn remote_domains(&self) -> usize {
        self.remote.load().len()
    }

    /// Whether another pod holds a session for `domain`.
    pub(crate) fn is_remote(&self, domain: &str) -> bool {
        self.remote.load().contains_key(domain)
    }
}

#[cfg(test)]
mod tests {
    use super::super::app_test_table;
    use super::*;

    #[test]
    fn keys_are_checked_by_hash() {
        let table = app_test_table();
        assert_eq!(table.verify("app.test", "right-key-0123456789"), Ok(()));
        assert_eq!(
            table.verify("app.test", "wrong-key-0123456789"),
            Err(HelloCode::BadKey)
        );
        assert_eq!(
            table.verify("other.test", "right-key-0123456789"),
            Err(HelloCode::UnknownDomain)
        );
    }
}
