//! Cross-pod routing set up for a test: a control-plane, two pods subscribed to it with
//! relay listeners, and the real agent for one domain on pod A in front of the local
//! service. A visitor on pod B is relayed to pod A.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use hopgate_test_support::{TempDir, poll_until};

use crate::{Agent, ControlPlane, DataPlane, start_local_service};

pub struct TwoPods {
    /// Holds the domain's session.
    pub a: DataPlane,
    /// Relays the domain's visitors to pod A.
    pub b: DataPlane,
    pub agent: Agent,
    /// The local service behind the agent.
    pub local: SocketAddr,
    pub cp: ControlPlane,
}

impl TwoPods {
    /// Registers `domain`, starts both pods and the agent, and waits until pod B relays.
    pub async fn start(domain: &str) -> Self {
        let cp = ControlPlane::start();
        let key = cp.register(domain).await;
        Self::start_on(cp, domain, &key, &[]).await
    }

    /// [`TwoPods::start`] with the agent in front of `local` (given `agent_args`) instead
    /// of the test's own local service; ready once pod B knows the session is on another
    /// pod (whatever the service answers).
    pub async fn start_in_front_of(domain: &str, local: SocketAddr, agent_args: &[&str]) -> Self {
        let cp = ControlPlane::start();
        let key = cp.register(domain).await;
        let (a, b) = Self::pods(&cp, &[]).await;
        let agent = Agent::start_with_key_and_args(&a, domain, local, &key, agent_args);
        agent.wait_connected(Duration::from_secs(10));
        poll_until(
            "pod-b learns where the agent is",
            Duration::from_secs(10),
            || async { b.metric("hopgate_relay_remote_domains").await == 1 },
        )
        .await;
        Self {
            a,
            b,
            agent,
            local,
            cp,
        }
    }

    /// Both pods, with their tables.
    async fn pods(cp: &ControlPlane, env: &[(&str, &str)]) -> (DataPlane, DataPlane) {
        let a = DataPlane::relaying(cp, "pod-a", Arc::new(TempDir::new("dp")), env);
        let b = DataPlane::relaying(cp, "pod-b", Arc::new(TempDir::new("dp")), env);
        // Ready = the table arrived.
        a.wait_ready(Duration::from_secs(10)).await;
        b.wait_ready(Duration::from_secs(10)).await;
        (a, b)
    }

    /// [`TwoPods::start`] on `cp`, where `domain` is registered with `key`; both pods get
    /// `env` on top of their usual settings.
    pub async fn start_on(cp: ControlPlane, domain: &str, key: &str, env: &[(&str, &str)]) -> Self {
        let (a, b) = Self::pods(&cp, env).await;
        let local = start_local_service("127.0.0.1:0".parse().unwrap());
        let agent = Agent::start_with_key(&a, domain, local, key);
        agent.wait_connected(Duration::from_secs(10));
        poll_until(
            "pod-b learns where the agent is",
            Duration::from_secs(10),
            || async { b.status_of(domain, "/status/204").await == 204 },
        )
        .await;
        Self {
            a,
            b,
            agent,
            local,
            cp,
        }
    }
}
