//! The live sessions of one domain on this pod, and which of them a request goes to.
//!
//! A domain is served by one session, or by a *pool* of sessions when every agent said
//! `pool` in its hello. Who joins what ([`Sessions::admit`]):
//!
//! - an agent that asks to replace (no `pool`: the default, and every agent from before
//!   pools) replaces every live session of the domain;
//! - a pooled agent joins the pooled sessions, and replaces a session that didn't ask for
//!   a pool;
//! - a session of the same agent (its hello's `agent_id` matches a live session's) joins
//!   that agent's sessions and never replaces them: one agent keeps a session on several
//!   pods, and more than one here while it moves; towards other agents it follows the two
//!   rules above;
//! - a pool holds at most `cap` sessions (`HOP_SERVER_MAX_POOL_SESSIONS`), an agent's own
//!   included: one key can't make a pod hold sessions without bound; beyond it the hello
//!   is refused.
//!
//! A request goes to the session with the fewest requests outstanding ([`Sessions::pick`]):
//! each session carries a [`Load`] counter that a request holds ([`LoadGuard`]) from the
//! choice until it is over, its answer's body included, so a WebSocket or a long download
//! weighs on its session while it is open. Among equally loaded sessions the scan starts
//! at a rotating position, so equal loads alternate.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::SystemTime,
};

use hopgate_transport::Session;
use tokio::sync::Notify;

use crate::tunnel::session_actor::SessionActor;

/// How many requests a session carries now, and a wake-up for its session actor when that
/// goes from none to some (the actor watches its agent only while requests wait on it).
#[derive(Debug, Clone, Default)]
pub(crate) struct Load(Arc<Count>);

#[derive(Debug, Default)]
struct Count {
    requests: AtomicUsize,
    busy: Notify,
}

impl Load {
    /// The requests outstanding on the session.
    pub(crate) fn get(&self) -> usize {
        self.0.requests.load(Ordering::Relaxed)
    }

    /// One more request on the session until the guard is dropped.
    pub(crate) fn enter(&self) -> LoadGuard {
        if self.0.requests.fetch_add(1, Ordering::Relaxed) == 0 {
            self.0.busy.notify_one();
        }
        LoadGuard(self.0.clone())
    }

    /// Resolves once the session carries a request (at once if it does now).
    pub(crate) async fn busy(&self) {
        loop {
            // A wake-up given while nobody waited is kept for the next wait.
            let woken = self.0.busy.notified();
            if self.get() > 0 {
                return;
            }
            woken.await;
        }
    }
}

/// A request's weight on its session; dropped when the request is over.
#[derive(Debug)]
pub(crate) struct LoadGuard(Arc<Count>);

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A live agent session for one domain.
#[derive(Clone)]
pub(crate) struct SessionHandle {
    pub(crate) id: u64,
    pub(crate) domain: String,
    pub(crate) session: Session,
    pub(crate) actor: actix::Addr<SessionActor>,
    /// The agent joined the domain's pool.
    pub(crate) pooled: bool,
    /// The agent's id from its hello, when it sent a well-formed one.
    pub(crate) agent_id: Option<Arc<str>>,
    /// When the session was admitted.
    pub(crate) since: SystemTime,
    /// Requests outstanding on it.
    pub(crate) load: Load,
}

/// What a pool needs to know of its sessions (a [`SessionHandle`]; a stand-in in tests).
pub(crate) trait Member: Clone {
    fn id(&self) -> u64;
    fn pooled(&self) -> bool;
    fn agent_id(&self) -> Option<&str>;
    fn load(&self) -> &Load;
}

impl Member for SessionHandle {
    fn id(&self) -> u64 {
        self.id
    }

    fn pooled(&self) -> bool {
        self.pooled
    }

    fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    fn load(&self) -> &Load {
        &self.load
    }
}

/// A session chosen for a request, with the request's weight on it.
pub(crate) struct Picked<H = SessionHandle> {
    pub(crate) handle: H,
    pub(crate) load: LoadGuard,
    /// Several sessions had the lowest load: the rotation chose.
    pub(crate) tie: bool,
}

/// Why a session was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the domain's pool already holds {cap} sessions on this gateway")]
pub(crate) struct PoolFull {
    pub(crate) cap: usize,
}

/// What admitting a session did to the domain's others.
pub(crate) struct Admitted<H = SessionHandle> {
    /// The sessions it replaced (they are told to go away).
    pub(crate) replaced: Vec<H>,
    /// How many sessions serve the domain now, the new one included.
    pub(crate) serving: usize,
    /// How many of the others are the same agent's.
    pub(crate) own: usize,
}

/// The live sessions of one domain.
#[derive(Clone)]
pub(crate) struct Sessions<H = SessionHandle>(Vec<H>);

impl<H> Default for Sessions<H> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<H: Member> Sessions<H> {
    /// Admits `handle` under the rules in the module docs; on success it serves the domain.
    pub(crate) fn admit(&mut self, handle: H, cap: usize) -> Result<Admitted<H>, PoolFull> {
        let pooled = handle.pooled();
        let agent = handle.agent_id().map(str::to_owned);
        let same_agent = |old: &H| agent.is_some() && old.agent_id() == agent.as_deref();
        let stays = |old: &H| same_agent(old) || (pooled && old.pooled());
        let staying = self.0.iter().filter(|old| stays(old)).count();
        if staying > 0 && staying >= cap {
            return Err(PoolFull { cap });
        }
        let own = self.0.iter().filter(|old| same_agent(old)).count();
        let (kept, replaced): (Vec<_>, Vec<_>) = self.0.drain(..).partition(stays);
        self.0 = kept;
        self.0.push(handle);
        Ok(Admitted {
            replaced,
            serving: self.0.len(),
            own,
        })
    }

    /// Adds `handle` as it is (a session moving between tables, already admitted).
    pub(crate) fn push(&mut self, handle: H) {
        self.0.push(handle);
    }

    /// Takes session `id` out, if it is there.
    pub(crate) fn remove(&mut self, id: u64) -> Option<H> {
        let at = self.0.iter().position(|s| s.id() == id)?;
        Some(self.0.remove(at))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &H> {
        self.0.iter()
    }

    /// The session with the fewest requests outstanding, but `except`; ties are broken
    /// by starting the scan at `turn` (a counter the caller advances per choice).
    pub(crate) fn pick(&self, turn: usize, except: Option<u64>) -> Option<Picked<H>> {
        let n = self.0.len();
        let mut best: Option<(&H, usize)> = None;
        let mut tied = false;
        for i in 0..n {
            let candidate = &self.0[(turn.wrapping_add(i)) % n];
            if Some(candidate.id()) == except {
                continue;
            }
            let load = candidate.load().get();
            match best {
                Some((_, lowest)) if load > lowest => {}
                Some((_, lowest)) if load == lowest => tied = true,
                _ => {
                    best = Some((candidate, load));
                    tied = false;
                }
            }
        }
        let (handle, _) = best?;
        Some(Picked {
            load: handle.load().enter(),
            handle: handle.clone(),
            tie: tied,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Agent {
        id: u64,
        pooled: bool,
        agent_id: Option<&'static str>,
        load: Load,
    }

    impl Member for Agent {
        fn id(&self) -> u64 {
            self.id
        }
        fn pooled(&self) -> bool {
            self.pooled
        }
        fn agent_id(&self) -> Option<&str> {
            self.agent_id
        }
        fn load(&self) -> &Load {
            &self.load
        }
    }

    fn agent(id: u64, pooled: bool) -> Agent {
        Agent {
            id,
            pooled,
            agent_id: None,
            load: Load::default(),
        }
    }

    /// Session `id` of the agent `agent_id`.
    fn session_of(agent_id: &'static str, id: u64, pooled: bool) -> Agent {
        Agent {
            agent_id: Some(agent_id),
            ..agent(id, pooled)
        }
    }

    #[test]
    fn an_agents_second_session_joins_its_first_and_never_replaces_it() {
        let mut sessions = Sessions::default();
        sessions.admit(session_of("a", 1, false), 16).unwrap();
        let second = sessions.admit(session_of("a", 2, false), 16).unwrap();
        assert!(second.replaced.is_empty(), "the agent's own session stays");
        assert_eq!((second.serving, second.own), (2, 1));
        // Another agent without --pool still replaces both.
        let other = sessions.admit(session_of("b", 3, false), 16).unwrap();
        let replaced: Vec<u64> = other.replaced.iter().map(|s| s.id).collect();
        assert_eq!(replaced, [1, 2]);
        assert_eq!(other.own, 0);
        // A session without an id is its own agent: it replaces b's.
        let anonymous = sessions.admit(agent(4, false), 16).unwrap();
        assert_eq!(anonymous.replaced.len(), 1);
        let again = sessions.admit(agent(5, false), 16).unwrap();
        assert_eq!(again.replaced.len(), 1, "no id: no joining");
        // In a pool, another tunnel connection of the same agent joins; a different
        // unpooled agent's session doesn't survive a pooled one.
        let mut pool = Sessions::default();
        pool.admit(session_of("a", 1, true), 16).unwrap();
        pool.admit(session_of("b", 2, true), 16).unwrap();
        let own = pool.admit(session_of("a", 3, true), 16).unwrap();
        assert_eq!((own.replaced.len(), own.serving, own.own), (0, 3, 1));
        // Requests spread over every session, the agent's two included.
        let mut picked = [0usize; 4];
        for turn in 0..30 {
            picked[pool.pick(turn, None).unwrap().handle.id as usize] += 1;
        }
        assert_eq!(picked, [0, 10, 10, 10]);
    }

    #[test]
    fn an_agents_own_sessions_count_towards_the_cap() {
        let mut sessions = Sessions::default();
        sessions.admit(session_of("a", 1, false), 2).unwrap();
        sessions.admit(session_of("a", 2, false), 2).unwrap();
        assert_eq!(
            sessions.admit(session_of("a", 3, false), 2).err(),
            Some(PoolFull { cap: 2 })
        );
        assert_eq!(ids(&sessions), [1, 2], "a refusal changes nothing");
        // Another agent replacing them is not refused.
        assert_eq!(
            sessions
                .admit(session_of("b", 4, false), 2)
                .unwrap()
                .replaced
                .len(),
            2
        );
    }

    fn ids(sessions: &Sessions<Agent>) -> Vec<u64> {
        sessions.iter().map(|s| s.id).collect()
    }

    #[test]
    fn a_replacing_agent_replaces_all_and_a_pooled_one_replaces_the_unpooled() {
        let mut sessions = Sessions::default();
        assert!(
            sessions
                .admit(agent(1, true), 16)
                .unwrap()
                .replaced
                .is_empty()
        );
        let joined = sessions.admit(agent(2, true), 16).unwrap();
        assert_eq!((joined.replaced.len(), joined.serving), (0, 2));
        // Without `pool`: the newer agent replaces the whole pool.
        let replacing = sessions.admit(agent(3, false), 16).unwrap();
        let replaced: Vec<u64> = replacing.replaced.iter().map(|s| s.id).collect();
        assert_eq!(replaced, [1, 2]);
        assert_eq!(ids(&sessions), [3]);
        // Another replacing agent replaces that one.
        let again = sessions.admit(agent(4, false), 16).unwrap();
        assert_eq!(again.replaced.len(), 1);
        // A pooled agent replaces a session that didn't ask for a pool.
        let pooled = sessions.admit(agent(5, true), 16).unwrap();
        assert_eq!(pooled.replaced.len(), 1);
        assert_eq!(ids(&sessions), [5]);
    }

    #[test]
    fn a_full_pool_refuses_more_pooled_agents_but_not_a_replacing_one() {
        let mut sessions = Sessions::default();
        for id in 0..3 {
            sessions.admit(agent(id, true), 3).unwrap();
        }
        assert_eq!(
            sessions.admit(agent(9, true), 3).err(),
            Some(PoolFull { cap: 3 })
        );
        assert_eq!(ids(&sessions), [0, 1, 2], "a refusal changes nothing");
        sessions.remove(1).unwrap();
        sessions.admit(agent(10, true), 3).unwrap();
        assert_eq!(
            sessions.admit(agent(11, false), 3).unwrap().replaced.len(),
            3
        );
    }

    #[test]
    fn the_least_loaded_session_is_picked_and_ties_alternate() {
        let mut sessions = Sessions::default();
        for id in 0..2 {
            sessions.admit(agent(id, true), 16).unwrap();
        }
        let mut picked = [0usize; 2];
        for turn in 0..100 {
            let choice = sessions.pick(turn, None).unwrap();
            assert!(choice.tie, "both idle: a tie");
            picked[choice.handle.id as usize] += 1;
        }
        assert_eq!(picked, [50, 50], "equal loads alternate");
        // A request held on session 0 sends the next ones to session 1.
        let held = sessions.pick(0, None).unwrap();
        assert_eq!(held.handle.id, 0);
        for turn in 0..10 {
            let choice = sessions.pick(turn, None).unwrap();
            assert_eq!(choice.handle.id, 1);
            assert!(!choice.tie);
        }
        drop(held);
        assert_eq!(sessions.iter().map(|s| s.load.get()).sum::<usize>(), 0);
        // The excluded session is never picked, even when it is the least loaded.
        let busy = sessions.pick(1, None).unwrap();
        assert_eq!(busy.handle.id, 1);
        assert_eq!(sessions.pick(0, Some(0)).unwrap().handle.id, 1);
        let alone = Sessions::<Agent>::default();
        assert!(alone.pick(0, None).is_none());
    }
}
