//! The well-behaved visitor of the victim domain: one GET after another for a while, each
//! on a new connection (TCP and TLS, as a new visitor's), timed.

use std::time::{Duration, Instant};

use super::pod::{Gateway, VICTIM};

/// A visitor's request that takes longer than this counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The victim's requests during one measurement.
pub(crate) struct Figures {
    /// Every request's time in milliseconds (failed ones too: until they failed).
    latencies_ms: Vec<f64>,
    pub(crate) failed: usize,
}

impl Figures {
    pub(crate) fn p99_ms(&self) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((sorted.len() as f64 - 1.0) * 0.99).round() as usize;
        sorted[rank.min(sorted.len() - 1)]
    }
}

/// GETs `/` on the victim domain for `duration`, one request at a time.
pub(crate) async fn measure(gateway: &Gateway, duration: Duration) -> anyhow::Result<Figures> {
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&gateway.cert_pem)?)
        .resolve(VICTIM, gateway.https)
        .pool_max_idle_per_host(0)
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let url = format!("https://{VICTIM}:{}/", gateway.https.port());
    let mut figures = Figures {
        latencies_ms: Vec::new(),
        failed: 0,
    };
    let started = Instant::now();
    while started.elapsed() < duration {
        let sent = Instant::now();
        let ok = match client.get(&url).send().await {
            Ok(response) => response.status() == 200 && response.bytes().await.is_ok(),
            Err(_) => false,
        };
        figures
            .latencies_ms
            .push(sent.elapsed().as_secs_f64() * 1000.0);
        figures.failed += usize::from(!ok);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(figures)
}
