//! A visitor's view of a change under a live tunnel: a GET every 100 ms through the pod,
//! each recorded with when it started and ended and its status, and what that says about
//! the change (how long service was out).

use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::DataPlane;

/// How often a request starts.
pub const EVERY: Duration = Duration::from_millis(100);

/// One visitor request: when it started and ended (since the run's origin) and its status
/// (0: it failed without one).
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub started: Duration,
    pub ended: Duration,
    pub status: u16,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.status == 200
    }
}

/// Starts a GET of `https://{domain}/echo` every [`EVERY`] from `origin` until `total`
/// after it; `at` runs once, `change_after` in. Requests give up after 5 s. Returns every
/// outcome, in the order they started, and when the change happened (since `origin`).
pub async fn requests_around(
    dp: &DataPlane,
    domain: &str,
    origin: Instant,
    (total, change_after): (Duration, Duration),
    at: impl AsyncFnOnce(),
) -> (Vec<Outcome>, Duration) {
    let visitor = dp.visitor_giving_up_after(&[domain], Duration::from_secs(5));
    let url = format!("https://{domain}:{}/echo", dp.https.port());
    let mut requests = JoinSet::new();
    let mut tick = tokio::time::interval(EVERY);
    let mut at = Some(at);
    let mut changed_at = Duration::ZERO;
    while origin.elapsed() < total {
        tick.tick().await;
        if origin.elapsed() >= change_after
            && let Some(change) = at.take()
        {
            changed_at = origin.elapsed();
            change().await;
        }
        let (visitor, url) = (visitor.clone(), url.clone());
        requests.spawn(async move {
            let started = origin.elapsed();
            let status = match visitor.get(url).send().await {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            };
            Outcome {
                started,
                ended: origin.elapsed(),
                status,
            }
        });
    }
    let mut outcomes: Vec<Outcome> = requests.join_all().await;
    outcomes.sort_by_key(|o| o.started);
    (outcomes, changed_at)
}

/// How long after `changed_at` service was back for good: when the first request that
/// started after the change, and after which no request failed, ended.
pub fn outage(outcomes: &[Outcome], changed_at: Duration) -> Duration {
    let last_failure = outcomes.iter().rposition(|o| !o.ok());
    outcomes
        .iter()
        .enumerate()
        .filter(|(i, o)| o.started >= changed_at && last_failure.is_none_or(|f| *i > f))
        .map(|(_, o)| o.ended.saturating_sub(changed_at))
        .next()
        .expect("a request succeeded after the change")
}

/// How long after `changed_at` a request first got an answer again: the earliest end of a
/// request that started after the change and succeeded (requests held up by the change
/// may end later, and still succeed).
pub fn served_again(outcomes: &[Outcome], changed_at: Duration) -> Duration {
    outcomes
        .iter()
        .filter(|o| o.started >= changed_at && o.ok())
        .map(|o| o.ended.saturating_sub(changed_at))
        .min()
        .expect("a request succeeded after the change")
}
