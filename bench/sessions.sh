#!/usr/bin/env bash
# What idle agent sessions cost a pod: N sessions (default 1,000) dial one debug data-plane
# at once (hopgate-sessions-bench), then the pod's memory per session and its CPU time
# while they idle are read from /proc. One figure a line: `name value unit`.
# Usage: N=10000 bench/sessions.sh. SOURCE_IPS=n: the sessions dial from n loopback
# addresses (127.0.0.2, …) in turn, as agents on n hosts; by default all from 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
cargo build --release --locked -q -p hopgate-data-plane -p hopgate-bench
source bench/dev_pod.sh
open_files_for_sessions "$N"
WORK=$(mktemp -d)
DP_PID=
cleanup() { [ -n "$DP_PID" ] && kill "$DP_PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# The pod: N development domains.
KEY=bench-key-0123456789abcdef0123456789
SUFFIX=gw.hopgate.test
RELEASE=${CARGO_TARGET_DIR:-target}/release
start_dev_pod "$N"

"$RELEASE/hopgate-sessions-bench" "$(field dtls)" "$(field fingerprint)" "$KEY" "$SUFFIX" \
  "$N" "$DP_PID" "$(getconf CLK_TCK)"
