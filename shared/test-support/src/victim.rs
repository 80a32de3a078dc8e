//! A well-behaved client measured while an attack runs: it calls the service over and over
//! (one call at a time, a short pause between) and records each call's latency and error.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::task::JoinHandle;

/// One call of the victim.
#[derive(Debug, Clone)]
pub struct Sample {
    pub latency: Duration,
    /// Why the call failed, if it did (its own error, or the call timeout).
    pub error: Option<String>,
}

/// Calls a service in a loop until stopped.
pub struct Prober {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Vec<Sample>>,
}

impl Prober {
    /// Starts calling `call` every `pause` (after the previous call ends); a call that takes
    /// longer than `limit` is abandoned and recorded as failed.
    pub fn start<F, Fut>(pause: Duration, limit: Duration, call: F) -> Self
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let started = Instant::now();
                let error = match tokio::time::timeout(limit, call()).await {
                    Ok(Ok(())) => None,
                    Ok(Err(error)) => Some(error),
                    Err(_) => Some(format!("no answer within {limit:?}")),
                };
                samples.push(Sample {
                    latency: started.elapsed(),
                    error,
                });
                tokio::time::sleep(pause).await;
            }
            samples
        });
        Self { stop, task }
    }

    /// Stops after the call in progress; every sample.
    pub async fn stop(self) -> ProbeReport {
        self.stop.store(true, Ordering::Relaxed);
        ProbeReport {
            samples: self.task.await.expect("the prober panicked"),
        }
    }
}

/// The victim's calls during an attack.
#[derive(Debug)]
pub struct ProbeReport {
    pub samples: Vec<Sample>,
}

impl ProbeReport {
    pub fn max_latency(&self) -> Duration {
        self.samples
            .iter()
            .map(|s| s.latency)
            .max()
            .unwrap_or_default()
    }

    pub fn failures(&self) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.error.is_some()).collect()
    }

    /// Asserts at least `at_least` calls were made, none failed and each took under `limit`.
    pub fn assert_served_within(&self, limit: Duration, at_least: usize) {
        assert!(
            self.samples.len() >= at_least,
            "the victim made only {} calls (expected {at_least}+)",
            self.samples.len()
        );
        let failures = self.failures();
        assert!(
            failures.is_empty(),
            "{} of {} victim calls failed: {:?}",
            failures.len(),
            self.samples.len(),
            failures.iter().take(5).collect::<Vec<_>>()
        );
        let slow: Vec<_> = self.samples.iter().filter(|s| s.latency >= limit).collect();
        assert!(
            slow.is_empty(),
            "{} of {} victim calls took {limit:?} or more (max {:?})",
            slow.len(),
            self.samples.len(),
            self.max_latency()
        );
    }
}
