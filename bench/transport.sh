#!/usr/bin/env bash
# Transport benchmark: one figure a line, `name value unit`, baselines in the same run.
# Usage: bench/transport.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p hopgate-bench --bin hopgate-transport-bench
exec target/release/hopgate-transport-bench "$@"
