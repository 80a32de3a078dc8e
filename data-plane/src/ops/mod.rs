//! Running the pod: its Prometheus metrics, the operations listener (`/metrics`,
//! `/healthz`, `/readyz`), and the graceful drain on shutdown.

pub(crate) mod drain;
pub(crate) mod listener;
pub(crate) mod metrics;
