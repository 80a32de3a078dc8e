//! Test-only crate: checks of the deployment files in `deploy/`.
//!
//! It has no code of its own; its integration test (`tests/deploy.rs`) does the work:
//!
//! - renders every Kustomize overlay with `kubectl kustomize` (a missing `kubectl` fails
//!   the test with a message saying what to install) and checks the manifests: the kinds,
//!   the data-plane's probes and ports, the Service's TCP 80/443 and UDP 443, non-root
//!   containers, secrets only through `secretKeyRef`, and the production overlay's
//!   replicas and mode;
//! - parses `deploy/compose/docker-compose.yml` and checks its services, ports, health
//!   checks and that secrets are interpolated, never written inline;
//! - parses the Grafana dashboard and checks that every panel queries a `hopgate_` metric.
//!
//! Run it with `cargo nextest run -p hopgate-deploy-check` or `scripts/check-deploy.sh`
//! (which also runs yamllint).
