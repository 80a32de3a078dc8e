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
mod tests {
    use super::*;

    fn pod(name: &str) -> Option<String> {
        Some(name.to_owned())
    }

    #[test]
    fn two_distinct_pods_are_kept_and_a_repeat_leaves() {
        let mut plan = Plan::new(2);
        assert!(plan.is_down() && plan.wants_more());
        assert_eq!(
            plan.arrived(1, pod("pod-a")),
            Arrival::Stays { retire: None }
        );
        assert!(plan.wants_more());
        assert_eq!(plan.arrived(2, pod("pod-a")), Arrival::Leaves);
        assert_eq!(plan.short_of_pods(), None, "attempts left");
        assert_eq!(
            plan.arrived(3, pod("pod-b")),
            Arrival::Stays { retire: None }
        );
        assert!(!plan.wants_more());
        assert_eq!(plan.pods(), ["pod-a", "pod-b"]);
        assert_eq!(plan.held(), 2);
        // A third that reaches either pod leaves.
        assert_eq!(plan.arrived(4, pod("pod-c")), Arrival::Leaves);
    }

    #[test]
    fn attempts_are_bounded_then_said_once_and_renewed_when_the_set_changes() {
        let mut plan = Plan::new(2);
        plan.arrived(1, pod("pod-a"));
        plan.arrived(2, pod("pod-a"));
        plan.attempt_failed("timeout");
        plan.arrived(3, pod("pod-a"));
        assert!(plan.wants_more());
        plan.arrived(4, pod("pod-a"));
        assert!(!plan.wants_more(), "four attempts spent");
        let said = plan.short_of_pods().unwrap();
        assert_eq!(
            said,
            "serving on 1 pod of 2 wanted: attempts reached pod-a, failed (timeout), pod-a, pod-a"
        );
        assert_eq!(plan.short_of_pods(), None, "said once");
        let mut plan = Plan::new(2);
        plan.arrived(1, pod("pod-a"));
        for seq in 2..6 {
            plan.arrived(seq, pod("pod-a"));
        }
        assert_eq!(
            plan.short_of_pods().unwrap(),
            "serving on 1 pod of 2 wanted: all attempts reached pod-a"
        );
        // The session is lost: no session serves, attempts are unbounded again.
        assert!(plan.ended(1));
        assert!(plan.is_down() && plan.wants_more());
        for _ in 0..10 {
            plan.attempt_failed("refused");
        }
        assert!(plan.wants_more());
        assert!(!plan.ended(99), "not a session of the set");
    }

    #[test]
    fn a_lost_session_is_replaced_while_the_other_serves() {
        let mut plan = Plan::new(2);
        plan.arrived(1, pod("pod-a"));
        plan.arrived(2, pod("pod-b"));
        assert!(plan.ended(1));
        assert!(!plan.is_down());
        assert!(plan.wants_more());
        assert_eq!(plan.arrived(3, pod("pod-b")), Arrival::Leaves);
        assert_eq!(
            plan.arrived(4, pod("pod-c")),
            Arrival::Stays { retire: None }
        );
        assert_eq!(plan.pods(), ["pod-b", "pod-c"]);
    }

    #[test]
    fn a_gateway_without_pod_names_gets_one_session_said_once() {
        let mut plan = Plan::new(2);
        assert_eq!(plan.arrived(1, None), Arrival::Stays { retire: None });
        assert_eq!(plan.wanted(), 1);
        assert!(!plan.wants_more());
        assert!(plan.unnamed_gateway());
        assert!(!plan.unnamed_gateway());
        assert_eq!(plan.short_of_pods(), None);
        // With one wanted, no unnamed notice.
        let mut single = Plan::new(1);
        single.arrived(1, None);
        assert!(!single.unnamed_gateway());
        assert!(!single.wants_more());
    }

    #[test]
    fn make_before_break_keeps_the_old_session_until_a_new_one_stays() {
        let mut plan = Plan::new(1);
        plan.arrived(1, pod("pod-a"));
        assert!(!plan.wants_more());
        plan.retire_when_replaced(1);
        assert!(plan.wants_more(), "the retiring session counts as missing");
        assert_eq!(plan.held(), 1, "it still serves");
        assert!(
            plan.is_down(),
            "attempts are unbounded until it is replaced"
        );
        // The new one may land on the same pod: it replaces the old one there.
        assert_eq!(
            plan.arrived(2, pod("pod-a")),
            Arrival::Stays { retire: Some(1) }
        );
        assert!(plan.ended(1));
        assert_eq!(plan.held(), 1);
        assert!(!plan.wants_more());
        // With two pods, the replacement must still avoid the other's pod.
        let mut plan = Plan::new(2);
        plan.arrived(1, pod("pod-a"));
        plan.arrived(2, pod("pod-b"));
        plan.retire_when_replaced(1);
        assert_eq!(plan.arrived(3, pod("pod-b")), Arrival::Leaves);
        assert_eq!(
            plan.arrived(4, pod("pod-c")),
            Arrival::Stays { retire: Some(1) }
        );
    }

    #[test]
    fn several_retiring_are_replaced_one_each_the_same_pod_first() {
        let mut plan = Plan::new(2);
        plan.arrived(1, pod("pod-a"));
        plan.arrived(2, pod("pod-b"));
        plan.retire_when_replaced(1);
        plan.retire_when_replaced(2);
        plan.retire_when_replaced(2);
        assert!(plan.is_retiring(1) && plan.is_retiring(2));
        assert!(plan.is_down() && plan.wants_more());
        assert_eq!(
            plan.arrived(3, pod("pod-b")),
            Arrival::Stays { retire: Some(2) }
        );
        assert!(plan.ended(2));
        // On a new pod: the oldest retiring one goes.
        assert_eq!(
            plan.arrived(4, pod("pod-c")),
            Arrival::Stays { retire: Some(1) }
        );
        assert!(plan.ended(1));
        assert!(!plan.any_retiring());
        assert_eq!(plan.pods(), ["pod-b", "pod-c"]);
    }

    #[test]
    fn a_probe_replaces_one_of_the_given_sessions_and_leaves_the_rest_serving() {
        let mut plan = Plan::new(2);
        plan.arrived(1, pod("pod-a"));
        plan.arrived(2, pod("pod-b"));
        assert_eq!(
            plan.arrived_replacing(3, pod("pod-b"), &[1, 2]),
            Arrival::Stays { retire: Some(2) }
        );
        assert!(!plan.is_retiring(1), "the other keeps serving as it was");
        assert!(plan.ended(2));
        assert!(!plan.wants_more());
        // With one session wanted, the probe replaces it wherever it lands.
        let mut single = Plan::new(1);
        single.arrived(1, pod("pod-a"));
        assert_eq!(
            single.arrived_replacing(2, pod("pod-z"), &[1]),
            Arrival::Stays { retire: Some(1) }
        );
        // Nothing to replace (a session not of the set): a full set sends it away.
        let mut full = Plan::new(1);
        full.arrived(1, pod("pod-a"));
        assert_eq!(
            full.arrived_replacing(2, pod("pod-a"), &[9]),
            Arrival::Leaves
        );
        assert!(!full.any_retiring());
    }
}
