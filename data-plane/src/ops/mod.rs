//! Running the pod: its Prometheus metrics (`metrics`, one file per family group), the
//! operations listener (`/metrics`, `/healthz`, `/readyz`), the count of requests in
//! flight, and the graceful drain on shutdown.

pub(crate) mod drain;
pub(crate) mod in_flight;
pub(crate) mod listener;
pub(crate) mod metrics;
