//! The thread that runs a gateway socket's DTLS handshake steps ([`crate::dtls::HandshakeStep`]),
//! and paces new handshakes.
//!
//! It runs at nice 10: when the cores are busy, established sessions' packets run first and
//! handshakes take what is left; on idle cores it runs at full speed all the same. It never
//! takes the socket's lock (a low-priority thread preempted while holding it would stall
//! every session): finished steps go back through a channel, and the receive path, woken,
//! takes them back.
//!
//! A handshake's first step (the signed answer to its second ClientHello) waits for a token
//! of a bucket that fills at `handshakes_per_s` (one second's worth at most), so a burst of
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

use self::first_steps::FirstSteps;
use crate::dtls::{HandshakeStep, Pacing, Returned};

/// The thread's nice value.
const NICE: i32 = 10;

/// What the socket keeps of its handshake thread.
pub(crate) struct HandshakeThread {
    /// Where steps go.
    pub(crate) steps: mpsc::Sender<HandshakeStep>,
    /// Where they come back, run or dropped.
    pub(crate) finished: mpsc::Receiver<Returned>,
}

/// Starts the thread; `queued` counts the steps sent and not yet run, `finished` is woken
/// when one comes back. It ends when the sender of steps is dropped.
pub(crate) fn spawn(
    pacing: Pacing,
    queued: Arc<AtomicUsize>,
    finished: Arc<AtomicWaker>,
) -> io::Result<HandshakeThread> {
    let (steps, steps_rx) = mpsc::channel::<HandshakeStep>();
    let (done, done_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("dtls-handshakes".into())
        .spawn(move || {
            if let Err(err) = rustix::process::nice(NICE) {
                tracing::debug!(error = %err, "could not lower the handshake thread's priority");
            }
            let runner = Runner {
                queued,
                finished,
                done,
            };
            let first_steps = FirstSteps::new(pacing.patience);
            runner.serve(
                steps_rx,
                first_steps,
                Pacer::new(pacing.per_s, Instant::now()),
            );
        })?;
    Ok(HandshakeThread {
        steps,
        finished: done_rx,
    })
}

struct Runner {
    queued: Arc<AtomicUsize>,
    finished: Arc<AtomicWaker>,
    done: mpsc::Sender<Returned>,
}

impl Runner {
    /// Runs steps until the socket is gone: continuing handshakes' steps at once, first
    /// steps as the pacer allows.
    fn serve(
        &self,
        steps: mpsc::Receiver<HandshakeStep>,
        mut first_steps: FirstSteps<HandshakeStep>,
        mut pacer: Pacer,
    ) {
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
                Ok(step) if step.is_first() => first_steps.push(step, Instant::now()),
                Ok(step) => {
                    if !self.run(step) {
                        return;
                    }
                }
                // Nothing arrived: with no step waiting the socket is gone; otherwise a
                // token is due.
                Err(()) if first_steps.is_empty() => return,
                Err(()) => {
                    let now = Instant::now();
                    let Some(step) = first_steps.pop(now, |step| self.drop_unrun(step)) else {
                        continue;
                    };
                    pacer.take(now);
                    if !self.run(step) {
                        return;
                    }
                }
            }
        }
    }

    /// Runs one step and hands it back; `false` once nobody takes steps back.
    fn run(&self, step: HandshakeStep) -> bool {
        self.hand_back(Returned::Done(step.run(Instant::now())))
    }

    /// Hands a step back unrun, for the table to forget its association.
    fn drop_unrun(&self, step: HandshakeStep) {
        self.hand_back(Returned::Dropped(step.drop_unrun()));
    }

    fn hand_back(&self, returned: Returned) -> bool {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        if self.done.send(returned).is_err() {
            return false;
        }
        self.finished.wake();
        true
    }
}

/// A token bucket: `per_s` tokens a second, holding one second's worth at most.
struct Pacer {
    per_s: f64,
    tokens: f64,
    at: Instant,
}

impl Pacer {
    fn new(per_s: u32, now: Instant) -> Self {
        let per_s = f64::from(per_s.max(1));
        Self {
            per_s,
            tokens: per_s,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_s).min(self.per_s);
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
        let mut pacer = Pacer::new(100, start);
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
        // A long pause fills the bucket to one second's worth, no more.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..100 {
            assert_eq!(pacer.wait(much_later), Duration::ZERO);
            pacer.take(much_later);
        }
        assert!(pacer.wait(much_later) > Duration::ZERO);
    }
}
