//! The plan's rules, one scenario each.

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
