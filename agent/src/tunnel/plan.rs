//! What a tunnel's set of sessions should do next, without I/O: which sessions serve and on
//! which pods, whether to open another, whether a session that just came up stays or
//! leaves (it reached a pod the set already serves on), and when to say that the set
//! serves on fewer pods than wanted.
//!
//! The rules:
//! - the set wants `ha_connections` sessions on distinct pods; 1 while a session is on a
//!   gateway that doesn't name its pods (an older version);
//! - with no session serving, attempts are unbounded (the caller backs off);
//! - with some serving, a missing session gets [`MAX_ATTEMPTS`] attempts (a failure, or
//!   a session that reached a pod already served, counts as one); then the set serves with
//!   what it has until it changes (a session ends), which starts a new round;
//! - *make before break*: a session marked as retiring ([`Plan::retire_when_replaced`])
//!   keeps serving but counts as missing; the next session that stays replaces it (it may
//!   be on the same pod; with several retiring, the one on its pod, else the oldest), and
//!   the caller then tells it to leave. A session may also come up to replace one of a
//!   few given sessions ([`Plan::arrived_replacing`]: a UDP probe replacing a TCP session).

/// Attempts per missing session once the set serves on at least one pod.
pub(super) const MAX_ATTEMPTS: u32 = 4;

/// A session of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    seq: u64,
    /// The pod that answered its hello; `None`: a gateway that doesn't say.
    pod: Option<String>,
}

/// What to do with a session that just came up.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Arrival {
    /// It serves; `retire` (if any) is the session it replaces, to be told to leave.
    Stays { retire: Option<u64> },
    /// It reached a pod the set already serves on (or the set is full): tell it to leave.
    Leaves,
}

/// The sessions of one tunnel and the attempts to add one.
#[derive(Debug)]
pub(super) struct Plan {
    ha_connections: usize,
    live: Vec<Held>,
    /// The sessions newer ones are to replace (make before break), oldest first.
    retiring: Vec<u64>,
    /// Attempts for the missing session since the set last changed.
    attempts: u32,
    /// What those attempts reached: a pod's name, or why they failed.
    reached: Vec<String>,
    /// The set already said it serves on fewer pods than wanted (this round).
    said_short: bool,
    /// The set already said the gateway names no pods.
    said_unnamed: bool,
}

impl Plan {
    pub(super) fn new(ha_connections: usize) -> Self {
        Self {
            ha_connections: ha_connections.max(1),
            live: Vec::new(),
            retiring: Vec::new(),
            attempts: 0,
            reached: Vec::new(),
            said_short: false,
            said_unnamed: false,
        }
    }

    /// Sessions wanted: `ha_connections`, or 1 while a session's gateway names no pod.
    pub(super) fn wanted(&self) -> usize {
        if self.live.iter().any(|held| held.pod.is_none()) {
            1
        } else {
            self.ha_connections
        }
    }

    /// The sessions that serve and are not retiring.
    fn serving(&self) -> impl Iterator<Item = &Held> {
        self.live
            .iter()
            .filter(move |held| !self.retiring.contains(&held.seq))
    }

    /// Sessions held (serving, a retiring one included).
    pub(super) fn held(&self) -> usize {
        self.live.len()
    }

    /// Distinct pods the sessions are on.
    pub(super) fn pods(&self) -> Vec<&str> {
        let mut pods: Vec<&str> = self
            .live
            .iter()
            .filter_map(|held| held.pod.as_deref())
            .collect();
        pods.sort_unstable();
        pods.dedup();
        pods
    }

    /// No session serves: an attempt is the tunnel's only way back (unbounded, backed off).
    pub(super) fn is_down(&self) -> bool {
        self.serving().next().is_none()
    }

    /// Whether to open another session now (the caller spaces attempts out).
    pub(super) fn wants_more(&self) -> bool {
        let serving = self.serving().count();
        serving == 0 || (serving < self.wanted() && self.attempts < MAX_ATTEMPTS)
    }

    /// Session `seq` is up, its hello answered by `pod`.
    pub(super) fn arrived(&mut self, seq: u64, pod: Option<String>) -> Arrival {
        let serving: Vec<&Held> = self.serving().collect();
        let unnamed = pod.is_none() || serving.iter().any(|held| held.pod.is_none());
        let again = serving.iter().any(|held| held.pod == pod);
        if !serving.is_empty() && (unnamed || again || serving.len() >= self.wanted()) {
            self.attempts += 1;
            self.reached
                .push(pod.unwrap_or_else(|| "a pod that gives no name".to_owned()));
            return Arrival::Leaves;
        }
        let retire = self
            .retiring
            .iter()
            .position(|old| self.live.iter().any(|h| h.seq == *old && h.pod == pod))
            .or((!self.retiring.is_empty()).then_some(0))
            .map(|at| self.retiring.remove(at));
        self.live.push(Held { seq, pod });
        self.new_round();
        Arrival::Stays { retire }
    }

    /// Session `seq` is up, on `pod`, to replace one of `replaceable` (preferably the one
    /// on its pod) rather than to fill a gap; the rest of them keep serving as they were.
    pub(super) fn arrived_replacing(
        &mut self,
        seq: u64,
        pod: Option<String>,
        replaceable: &[u64],
    ) -> Arrival {
        let added: Vec<u64> = replaceable
            .iter()
            .copied()
            .filter(|old| !self.retiring.contains(old) && self.live.iter().any(|h| h.seq == *old))
            .collect();
        self.retiring.extend(&added);
        let arrival = self.arrived(seq, pod);
        self.retiring.retain(|old| !added.contains(old));
        arrival
    }

    /// Whether session `seq` is waiting to be replaced.
    pub(super) fn is_retiring(&self, seq: u64) -> bool {
        self.retiring.contains(&seq)
    }

    /// Whether any session is waiting to be replaced.
    pub(super) fn any_retiring(&self) -> bool {
        !self.retiring.is_empty()
    }

    /// An attempt failed (`why`); it counts when the set serves already.
    pub(super) fn attempt_failed(&mut self, why: &str) {
        if !self.is_down() {
            self.attempts += 1;
            self.reached.push(format!("failed ({why})"));
        }
    }

    /// Session `seq` ended (lost, going away, or left); whether it was one of the set.
    pub(super) fn ended(&mut self, seq: u64) -> bool {
        let Some(at) = self.live.iter().position(|held| held.seq == seq) else {
            return false;
        };
        self.live.remove(at);
        self.retiring.retain(|old| *old != seq);
        self.new_round();
        true
    }

    /// Make before break: session `seq` serves until a newer one stays, which replaces it.
    pub(super) fn retire_when_replaced(&mut self, seq: u64) {
        if self.live.iter().any(|held| held.seq == seq) && !self.retiring.contains(&seq) {
            self.retiring.push(seq);
            self.new_round();
        }
    }

    /// The set changed: a missing session gets its attempts afresh.
    fn new_round(&mut self) {
        self.attempts = 0;
        self.reached.clear();
        self.said_short = false;
    }

    /// Once per round, when the attempts are spent with fewer pods than wanted: what to
    /// say (`serving on 1 pod of 2 wanted: all attempts reached pod-a`).
    pub(super) fn short_of_pods(&mut self) -> Option<String> {
        let serving = self.serving().count();
        if self.said_short || serving == 0 || serving >= self.wanted() {
            return None;
        }
        if self.attempts < MAX_ATTEMPTS {
            return None;
        }
        self.said_short = true;
        let pods = if serving == 1 { "pod" } else { "pods" };
        let first = &self.reached[0];
        let why = if self.reached.iter().all(|r| r == first) && !first.starts_with("failed") {
            format!("all attempts reached {first}")
        } else {
            format!("attempts reached {}", self.reached.join(", "))
        };
        Some(format!(
            "serving on {serving} {pods} of {} wanted: {why}",
            self.wanted()
        ))
    }

    /// Once: the gateway names no pods, so the set keeps one session.
    pub(super) fn unnamed_gateway(&mut self) -> bool {
        let unnamed = self.ha_connections > 1
            && self.live.iter().any(|held| held.pod.is_none())
            && !self.said_unnamed;
        self.said_unnamed |= unnamed;
        unnamed
    }
}

#[cfg(test)]
mod tests;
