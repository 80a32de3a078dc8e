//! Running the pod: its Prometheus metrics (`pool_metrics`: pools and retries;
//! `tls_metrics`: visitors' TLS handshakes and session ticket keys), the operations listener (`/metrics`,
//! `/healthz`, `/readyz`), the count of requests in flight, and the graceful drain on
//! shutdown.

pub(crate) mod drain;
pub(crate) mod in_flight;
pub(crate) mod listener;
pub(crate) mod metrics;
pub(crate) mod migration_metrics;
pub(crate) mod pool_metrics;
pub(crate) mod tls_metrics;
