#!/usr/bin/env bash
# What idle agent sessions cost a pod: N sessions (default 1,000) dial one debug data-plane
# at once (hopgate-sessions-bench), then the pod's memory per session and its CPU time
# while they idle are read from /proc. One figure a line: `name value unit`.
# Usage: N=10000 bench/sessions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
cargo build --release --locked -q -p hopgate-data-plane -p hopgate-bench
# One UDP socket per session on the dialling side, and some room.
NEED=$((N + 512))
if [ "$(ulimit -n)" -lt "$NEED" ]; then
  [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$NEED" ] && {
    echo "N=$N needs $NEED open files; the hard limit is $(ulimit -Hn)" >&2; exit 2; }
  ulimit -n "$NEED"
fi
WORK=$(mktemp -d)
DP_PID=
cleanup() { [ -n "$DP_PID" ] && kill "$DP_PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# N development domains under the gateway's name (its wildcard certificate covers them),
# in a config file: the list is too long for one environment variable.
KEY=bench-key-0123456789abcdef0123456789
SUFFIX=gw.hopgate.test
{
  echo "dev_domains = ["
  for i in $(seq 0 $((N - 1))); do echo "  \"s$i.$SUFFIX=$KEY\","; done
  echo "]"
} > "$WORK/pod.toml"

# Every session dials from 127.0.0.1: the per-IP handshake cap is raised to let the storm in.
HOP_SERVER_DTLS_HANDSHAKES_PER_IP=4096 \
HOP_SERVER_DOMAIN=$SUFFIX HOP_SERVER_DEBUG=true \
HOP_SERVER_HTTP_LISTEN=127.0.0.1:0 HOP_SERVER_HTTPS_LISTEN=127.0.0.1:0 \
HOP_SERVER_DTLS_LISTEN=127.0.0.1:0 HOP_METRICS_LISTEN=127.0.0.1:0 \
HOP_SERVER_STATE_DIR="$WORK/dp" \
  target/release/hopgate-data-plane --config "$WORK/pod.toml" > "$WORK/dp.log" 2>&1 & DP_PID=$!
for _ in $(seq 300); do grep -q '"msg":"listening"' "$WORK/dp.log" 2>/dev/null && break; sleep 0.1; done
grep -q '"msg":"listening"' "$WORK/dp.log" || { echo "data-plane did not start:" >&2; cat "$WORK/dp.log" >&2; exit 1; }
field() { grep -o "\"$1\":\"[^\"]*\"" "$WORK/dp.log" | head -1 | cut -d'"' -f4; }

target/release/hopgate-sessions-bench "$(field dtls)" "$(field fingerprint)" "$KEY" "$SUFFIX" \
  "$N" "$DP_PID" "$(getconf CLK_TCK)"
