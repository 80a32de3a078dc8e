//! Waiting for a condition with a deadline instead of sleeping for a guessed while: a
//! condition checked every few milliseconds until it holds ([`poll_until`], [`poll_for`],
//! and [`wait_until`] for synchronous code), and a child process's exit ([`exit_within`]).

use std::{
    future::Future,
    process::{Child, ExitStatus},
    time::{Duration, Instant},
};

/// How often a condition is checked again.
const EVERY: Duration = Duration::from_millis(20);

/// Checks `check` until it holds; panics saying `what` if it doesn't within `within`.
pub async fn poll_until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll_for(what, within, || {
        let done = check();
        async move { done.await.then_some(()) }
    })
    .await;
}

/// Calls `check` until it returns a value, and returns it; panics saying `what` if none
/// comes within `within`.
pub async fn poll_for<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(EVERY).await;
    }
}

/// [`poll_until`] for synchronous code: checks `check` until it holds, blocking this
/// thread; panics saying `what` if it doesn't within `within`.
pub fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(EVERY);
    }
}

/// `child`'s exit status if it exits within `within` (blocking this thread meanwhile).
pub fn exit_within(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child process") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(EVERY);
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicU32, Ordering},
        time::Duration,
    };

    use super::{exit_within, poll_for, poll_until, wait_until};

    #[tokio::test]
    async fn a_condition_that_comes_true_ends_the_wait() {
        let calls = AtomicU32::new(0);
        poll_until("the third call", Duration::from_secs(10), || async {
            calls.fetch_add(1, Ordering::SeqCst) >= 2
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let value = poll_for("a value", Duration::from_secs(10), || async { Some(7) }).await;
        assert_eq!(value, 7);
        let mut checks = 0;
        wait_until("the second check", Duration::from_secs(10), || {
            checks += 1;
            checks == 2
        });
    }

    #[tokio::test]
    #[should_panic(expected = "never: not within")]
    async fn a_condition_that_never_holds_fails_at_the_deadline() {
        poll_until("never", Duration::from_millis(100), || async { false }).await;
    }

    #[test]
    fn an_exit_is_seen_and_a_running_process_is_not_taken_for_one() {
        let mut quick = std::process::Command::new("true").spawn().unwrap();
        let status = exit_within(&mut quick, Duration::from_secs(10));
        assert!(status.is_some_and(|s| s.success()));
        let mut slow = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        assert!(exit_within(&mut slow, Duration::from_millis(100)).is_none());
        slow.kill().unwrap();
        slow.wait().unwrap();
    }
}
