//! Where a request goes: the least loaded of the domain's sessions here (ties broken in
//! turn, see `pool`), else another pod holding one (visitors' requests only: a relayed
//! request is never relayed again), else a session moved away while the pod drains.

use std::sync::atomic::Ordering;

use dashmap::DashMap;

use super::{Picked, Route, RoutingTable, Sessions};

impl RoutingTable {
    /// The least loaded of `host`'s sessions in `map`, but `except`.
    fn pick(
        &self,
        map: &DashMap<String, Sessions>,
        host: &str,
        except: Option<u64>,
    ) -> Option<Picked> {
        let sessions = map.get(host)?;
        if sessions.len() < 2 {
            return sessions.pick(0, except);
        }
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let picked = sessions.pick(turn, except)?;
        self.choices[usize::from(picked.tie)].fetch_add(1, Ordering::Relaxed);
        Some(picked)
    }

    /// Where a visitor's request for `host` goes: a local session, else another pod.
    pub(crate) fn route(&self, host: &str) -> Route {
        self.route_except(host, None)
    }

    /// [`RoutingTable::route`], avoiding session `except` (it just failed the request).
    pub(crate) fn route_except(&self, host: &str, except: Option<u64>) -> Route {
        if let Some(picked) = self.pick(&self.sessions, host, except) {
            return Route::Live(picked);
        }
        if !self.domains.load().contains_key(host) {
            return Route::Unknown;
        }
        if let Some(targets) = self.remote.load().get(host) {
            return Route::Remote(targets.clone());
        }
        match self.pick(&self.moved, host, except) {
            Some(picked) => Route::Live(picked),
            None => Route::Offline,
        }
    }

    /// Where a request another pod relayed here goes: local sessions only (one hop).
    pub(crate) fn route_relayed(&self, host: &str) -> Route {
        self.route_relayed_except(host, None)
    }

    /// [`RoutingTable::route_relayed`], avoiding session `except`.
    pub(crate) fn route_relayed_except(&self, host: &str, except: Option<u64>) -> Route {
        let local = self.pick(&self.sessions, host, except);
        if let Some(picked) = local.or_else(|| self.pick(&self.moved, host, except)) {
            return Route::Live(picked);
        }
        if self.domains.load().contains_key(host) {
            Route::Offline
        } else {
            Route::Unknown
        }
    }

    /// Choices among several sessions so far: `(one was least loaded, ties)`.
    pub(crate) fn pool_choices(&self) -> (u64, u64) {
        (
            self.choices[0].load(Ordering::Relaxed),
            self.choices[1].load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, sync::Arc};

    use super::super::{RelayTargets, app_test_table};
    use super::*;

    #[test]
    fn unknown_and_offline_are_told_apart() {
        let table = app_test_table();
        assert!(matches!(table.route("app.test"), Route::Offline));
        assert!(matches!(table.route("nope.test"), Route::Unknown));
    }

    #[test]
    fn remote_sessions_are_routed_to_unless_there_is_a_local_one() {
        let table = app_test_table();
        let targets: RelayTargets = Arc::from(vec![Arc::from("http://10.0.0.2:8443")]);
        table.set_remote(HashMap::from([
            ("app.test".to_owned(), targets.clone()),
            ("unregistered.test".to_owned(), targets),
        ]));
        assert!(
            matches!(table.route("app.test"), Route::Remote(t) if t[0].as_ref() == "http://10.0.0.2:8443")
        );
        // A relayed request is never relayed again.
        assert!(matches!(table.route_relayed("app.test"), Route::Offline));
        // Only domains of the table are routed anywhere.
        assert!(matches!(table.route("unregistered.test"), Route::Unknown));
        assert!(table.is_remote("app.test"));
    }
}
