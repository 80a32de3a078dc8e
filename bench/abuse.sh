#!/usr/bin/env bash
# Abuse benchmark: a release data-plane pod serving two domains through real agents in front
# of a built-in service; the p99 latency of a well-behaved visitor of domain b (a new
# connection per request) without an attack, then during each attack on domain a or on the
# listener: stalled_uploads, handshake_flood, silent_tcp, h2_stream_flood
# (bench/src/abuse_bench.rs says what each does). Every attack is bounded and stops by
# itself; all traffic stays on 127.0.0.0/8. One figure a line: `name value unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
# silent_tcp holds 4,000 connections: both ends need the descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release --locked -q -p hopgate-data-plane -p hopgate-agent
cargo build --release --locked -q -p hopgate-bench --bin hopgate-abuse-bench
exec target/release/hopgate-abuse-bench "$@"
