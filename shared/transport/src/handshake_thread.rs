//! The thread that runs a gateway's DTLS handshake steps ([`crate::dtls::HandshakeStep`]),
//! and paces new handshakes: one for the listener, whatever number of sockets it serves on
//! ([`crate::reuseport`]), so `handshakes_per_s` holds for the gateway as a whole. Each
//! socket sends its steps along a [`Route`] that brings them back to it.
//!
//! It runs at nice 10: when the cores are busy, established sessions' packets run first and
//! handshakes take what is left; on idle cores it runs at full speed all the same. It never
//! takes the socket's lock (a low-priority thread preempted while holding it would stall
//! every session): finished steps go back through a channel, and the receive path, woken,
//! takes them back.
//!
//! A handshake's first step (the signed answer to its second ClientHello) waits for a token
//! of a bucket that fills at `handshakes_per_s` (`handshake_burst` at most), so a burst of
//! thousands of agents is spread over time instead of taking every core at once: the agents'
//! own public-key work, answered no faster, spreads out with it. The steps of handshakes
//! already under way run at once, so admitted handshakes finish. First steps are taken one
//! source IP at a time in turn, newest first within an IP ([`first_steps`]), and one still
//! waiting when its handshake's timeout has passed is dropped unrun (the table has
//! forgotten the association; the agent's retransmission starts a new one), as is one that
//! waited longer than its client waits for an answer ([`Pacing::patience`]): that one goes
//! back unrun, and the table forgets its association at once.

mod first_steps;

use std::{
    io,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
        mpsc::{self, RecvTimeoutError, TryRecvError},
    },
    time::{Duration, Instant},
};

use futures_util::task::AtomicWaker;

use self::first_steps::{FirstSteps, Queued};
use crate::dtls::{HandshakeStep, Pacing, Returned};

/// The thread's nice value.
const NICE: i32 = 10;

/// The listener's handle on its handshake thread: it gives each socket a [`Route`]. The
/// thread ends once every handle and every route are dropped.
#[derive(Clone)]
pub(crate) struct HandshakeThread {
    steps: mpsc::Sender<Routed>,
}

/// One socket's way to the handshake thread.
pub(crate) struct Route {
    steps: mpsc::Sender<Routed>,
    back: Arc<Back>,
}

/// Where a step goes back to: its socket's queue, the task to wake, its count of steps away.
struct Back {
    done: mpsc::Sender<Returned>,
    woken: Arc<AtomicWaker>,
    queued: Arc<AtomicUsize>,
}

/// A step and where it goes back to.
struct Routed {
    step: HandshakeStep,
    back: Arc<Back>,
}

impl Queued for Routed {
    fn source_ip(&self) -> std::net::IpAddr {
        self.step.source_ip()
    }

    fn expired(&self, now: Instant) -> bool {
        Queued::expired(&self.step, now)
    }
}

/// Starts the thread.
pub(crate) fn spawn(pacing: Pacing) -> io::Result<HandshakeThread> {
    let (steps, steps_rx) = mpsc::channel::<Routed>();
    std::thread::Builder::new()
        .name("dtls-handshakes".into())
        .spawn(move || {
            if let Err(err) = rustix::process::nice(NICE) {
                tracing::debug!(error = %err, "could not lower the handshake thread's priority");
            }
            let first_steps = FirstSteps::new(pacing.patience);
            serve(
                steps_rx,
                first_steps,
                Pacer::new(pacing.per_s, pacing.burst, Instant::now()),
            );
        })?;
    Ok(HandshakeThread { steps })
}

impl HandshakeThread {
    /// A route for one socket, and where its steps come back (run or dropped): `queued`
    /// counts its steps sent and not yet back, `woken` is woken when one comes back.
    pub(crate) fn route(
        &self,
        queued: Arc<AtomicUsize>,
        woken: Arc<AtomicWaker>,
    ) -> (Route, mpsc::Receiver<Returned>) {
        let (done, finished) = mpsc::channel();
        let back = Arc::new(Back {
            done,
            woken,
            queued,
        });
        let route = Route {
            steps: self.steps.clone(),
            back,
        };
        (route, finished)
    }
}

impl Route {
    /// Hands `step` to the thread; `false` if the thread is gone.
    pub(crate) fn send(&self, step: HandshakeStep) -> bool {
        let back = self.back.clone();
        back.queued.fetch_add(1, Ordering::Relaxed);
        if self.steps.send(Routed { step, back }).is_err() {
            self.back.queued.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// Runs steps until every socket is gone: continuing handshakes' steps at once, first
/// steps as the pacer allows.
fn serve(steps: mpsc::Receiver<Routed>, mut first_steps: FirstSteps<Routed>, mut pacer: Pacer) {
    loop {
        let arrived = if first_steps.is_empty() {
            steps.recv().map_err(|_| ())
        } else {
            match pacer.wait(Instant::now()) {
                wait if wait.is_zero() => match steps.try_recv() {
                    Ok(step) => Ok(step),
                    Err(TryRecvError::Empty) => Err(()),
                    Err(TryRecvError::Disconnected) => return,
                },
                wait => match steps.recv_timeout(wait) {
                    Ok(step) => Ok(step),
                    Err(RecvTimeoutError::Timeout) => Err(()),
                    Err(RecvTimeoutError::Disconnected) => return,
                },
            }
        };
        match arrived {
            Ok(routed) if routed.step.is_first() => first_steps.push(routed, Instant::now()),
            Ok(routed) => run(routed),
            // Nothing arrived: with no step waiting every socket is gone; otherwise a
            // token is due.
            Err(()) if first_steps.is_empty() => return,
            Err(()) => {
                let now = Instant::now();
                let Some(routed) = first_steps.pop(now, drop_unrun) else {
                    continue;
                };
                pacer.take(now);
                run(routed);
            }
        }
    }
}

/// Runs one step and hands it back.
fn run(Routed { step, back }: Routed) {
    back.hand_back(Returned::Done(step.run(Instant::now())));
}

/// Hands a step back unrun, for the table to forget its association.
fn drop_unrun(Routed { step, back }: Routed) {
    back.hand_back(Returned::Dropped(step.drop_unrun()));
}

impl Back {
    /// A socket that is gone no longer takes its steps back; the others still do.
    fn hand_back(&self, returned: Returned) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        if self.done.send(returned).is_ok() {
            self.woken.wake();
        }
    }
}

/// A token bucket: `per_s` tokens a second, holding `burst` at most (and at first).
struct Pacer {
    per_s: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Pacer {
    fn new(per_s: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_s: f64::from(per_s.max(1)),
            burst,
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_s).min(self.burst);
        self.at = now;
    }

    /// How long until a token is there (zero if one is).
    fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_s)
        }
    }

    /// Spends a token (the bucket may go below zero if none was there).
    fn take(&mut self, now: Instant) {
        self.refill(now);
        self.tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_lets_one_second_through_at_once_then_paces() {
        let start = Instant::now();
        let mut pacer = Pacer::new(100, 100, start);
        for _ in 0..100 {
            assert_eq!(pacer.wait(start), Duration::ZERO);
            pacer.take(start);
        }
        let wait = pacer.wait(start);
        assert!(
            wait > Duration::from_millis(9) && wait <= Duration::from_millis(10),
            "{wait:?}"
        );
        let later = start + Duration::from_millis(10);
        assert_eq!(pacer.wait(later), Duration::ZERO);
        pacer.take(later);
        // A long pause fills the bucket to its depth, no more.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..100 {
            assert_eq!(pacer.wait(much_later), Duration::ZERO);
            pacer.take(much_later);
        }
        assert!(pacer.wait(much_later) > Duration::ZERO);
    }

    #[test]
    fn a_shallow_bucket_lets_only_its_depth_through_at_once() {
        let start = Instant::now();
        let mut pacer = Pacer::new(100, 10, start);
        for _ in 0..10 {
            assert_eq!(pacer.wait(start), Duration::ZERO);
            pacer.take(start);
        }
        assert!(pacer.wait(start) > Duration::ZERO, "the eleventh waits");
        // A minute's pause refills ten tokens, not six thousand.
        let later = start + Duration::from_secs(60);
        for _ in 0..10 {
            assert_eq!(pacer.wait(later), Duration::ZERO);
            pacer.take(later);
        }
        assert!(pacer.wait(later) > Duration::ZERO);
    }
}
