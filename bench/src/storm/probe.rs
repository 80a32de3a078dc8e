//! A visitor at a fixed rate: one GET at a time, started every [`EVERY`] (later if the one
//! before is still running), each timed from its start until its whole body was read.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// How often a request starts: 200 a second.
pub(crate) const EVERY: Duration = Duration::from_millis(5);
/// A request without a whole answer after this long counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One request: when it started, how long it took, whether it was answered 200.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) sent: Instant,
    pub(crate) ms: f64,
    pub(crate) ok: bool,
}

/// Requests every [`EVERY`] with `client` to `url` until `stop` is set; every request's
/// sample.
pub(crate) async fn run(
    client: reqwest::Client,
    url: String,
    stop: Arc<AtomicBool>,
) -> Vec<Sample> {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let sent = Instant::now();
        let ok = match client.get(&url).timeout(REQUEST_TIMEOUT).send().await {
            Ok(response) => response.status() == 200 && response.bytes().await.is_ok(),
            Err(_) => false,
        };
        samples.push(Sample {
            sent,
            ms: sent.elapsed().as_secs_f64() * 1000.0,
            ok,
        });
    }
    samples
}

/// The samples of requests that started in `[from, until)`.
#[derive(Debug)]
pub(crate) struct Window {
    sorted_ms: Vec<f64>,
    pub(crate) failed: usize,
}

impl Window {
    pub(crate) fn of(samples: &[Sample], from: Instant, until: Instant) -> Self {
        let inside = samples.iter().filter(|s| s.sent >= from && s.sent < until);
        let mut sorted_ms: Vec<f64> = inside.clone().map(|s| s.ms).collect();
        sorted_ms.sort_by(f64::total_cmp);
        Self {
            sorted_ms,
            failed: inside.filter(|s| !s.ok).count(),
        }
    }

    pub(crate) fn requests(&self) -> usize {
        self.sorted_ms.len()
    }

    /// The `p`-th quantile (0 < p ≤ 1, nearest rank) in milliseconds; NaN if empty.
    pub(crate) fn quantile_ms(&self, p: f64) -> f64 {
        let n = self.sorted_ms.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = (p * n as f64).ceil() as usize;
        self.sorted_ms[rank.clamp(1, n) - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(start: Instant, ms: &[f64]) -> Vec<Sample> {
        ms.iter()
            .enumerate()
            .map(|(i, &ms)| Sample {
                sent: start + Duration::from_millis(i as u64),
                ms,
                ok: ms < 1000.0,
            })
            .collect()
    }

    #[test]
    fn a_window_keeps_the_requests_started_inside_it() {
        let start = Instant::now();
        let all = samples(start, &[1.0, 2.0, 5000.0, 3.0]);
        let window = Window::of(
            &all,
            start + Duration::from_millis(1),
            start + Duration::from_millis(3),
        );
        assert_eq!(window.requests(), 2);
        assert_eq!(window.failed, 1);
        assert_eq!(window.quantile_ms(0.5), 2.0);
        assert_eq!(window.quantile_ms(0.99), 5000.0);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let start = Instant::now();
        let ms: Vec<f64> = (1..=200).map(f64::from).collect();
        let window = Window::of(&samples(start, &ms), start, start + Duration::from_secs(1));
        assert_eq!(window.quantile_ms(0.5), 100.0);
        assert_eq!(window.quantile_ms(0.99), 198.0);
        assert!(Window::of(&[], start, start).quantile_ms(0.99).is_nan());
    }
}
