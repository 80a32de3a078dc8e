#!/usr/bin/env bash
# Table propagation benchmark: from the admin API's answer to a registration until
# the domain is routable on every pod (two pods), over 100 registrations.
# Prints `table.propagation_p50_ms` and `table.propagation_p99_ms` (`name value unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p hopgate-control-plane -p hopgate-data-plane
cargo build --release --locked -q -p hopgate-bench --bin hopgate-propagation-bench
exec target/release/hopgate-propagation-bench "$@"
