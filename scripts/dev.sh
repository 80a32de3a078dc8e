#!/usr/bin/env bash
# The whole gateway on this machine, in one command: a control-plane on its embedded SQLite
# database, one data-plane pod subscribed to it (debug mode: self-signed certificate), a
# demo local service, a domain registered through the admin API, and an agent forwarding
# that domain to the demo service. Prints the URL and a curl line that works; Ctrl-C stops
# everything.
#
# Usage: scripts/dev.sh            (ports: HTTPS/DTLS 8443, HTTP 8080, admin 8081)
# Needs: cargo, curl, python3 (for the demo service). State goes to .hopgate-dev/.
set -euo pipefail
cd "$(dirname "$0")/.."

MAIN_DOMAIN=${HOP_SERVER_DOMAIN:-hopgate.localhost}
DEMO_DOMAIN="demo.${MAIN_DOMAIN}"
HTTPS_PORT=${HOPGATE_DEV_HTTPS_PORT:-8443}
STATE=.hopgate-dev
ADMIN_KEY=dev-admin-key-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
TOKEN=dev-internal-token-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
RELAY_TOKEN=dev-relay-token-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

for tool in cargo curl python3; do
    command -v "$tool" >/dev/null || { echo "dev.sh: $tool is required" >&2; exit 2; }
done

# The `quick` profile (Cargo.toml): no optimisation, so a cold build takes about two minutes
# on 2 cores instead of ten; plenty fast for a try-out (benchmarks build --release).
echo "building (first time: about two minutes)..." >&2
cargo build --profile quick --locked -q -p hopgate-control-plane -p hopgate-data-plane -p hopgate-agent
BIN=${CARGO_TARGET_DIR:-target}/quick

rm -rf "$STATE" && mkdir -p "$STATE/cp" "$STATE/dp" "$STATE/demo"
PIDS=()
stop() {
    trap - INT TERM EXIT
    echo >&2
    echo "stopping..." >&2
    # Agent first (it closes its session), then the pod, then the control-plane.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[$i]}" 2>/dev/null || true
        wait "${PIDS[$i]}" 2>/dev/null || true
    done
}
trap stop INT TERM EXIT

# Waits until FILE has a line matching PATTERN (the process logs it when ready).
wait_for() {
    local file=$1 pattern=$2 what=$3
    for _ in $(seq 1 300); do
        if grep -q "$pattern" "$file" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "dev.sh: $what did not start; its log:" >&2
    cat "$file" >&2
    exit 1
}

HOP_SERVER_STATE_DIR="$STATE/cp" HOP_ADMIN_LISTEN=127.0.0.1:8081 \
    HOP_INTERNAL_LISTEN=127.0.0.1:8082 HOP_METRICS_LISTEN=127.0.0.1:9101 \
    HOP_ADMIN_API_KEY="$ADMIN_KEY" HOP_INTERNAL_TOKEN="$TOKEN" \
    "$BIN/hopgate-control-plane" >"$STATE/control-plane.log" 2>&1 &
PIDS+=($!)
wait_for "$STATE/control-plane.log" '"msg":"listening"' "the control-plane"

HOP_SERVER_DOMAIN="$MAIN_DOMAIN" HOP_SERVER_DEBUG=true \
    HOP_SERVER_HTTPS_LISTEN=127.0.0.1:$HTTPS_PORT HOP_SERVER_DTLS_LISTEN=127.0.0.1:$HTTPS_PORT \
    HOP_SERVER_HTTP_LISTEN=127.0.0.1:8080 HOP_METRICS_LISTEN=127.0.0.1:9100 \
    HOP_SERVER_STATE_DIR="$STATE/dp" HOP_CONTROL_PLANE_URL=http://127.0.0.1:8082 \
    HOP_INTERNAL_TOKEN="$TOKEN" HOP_RELAY_TOKEN="$RELAY_TOKEN" HOP_POD_ID=dev-pod \
    "$BIN/hopgate-data-plane" >"$STATE/data-plane.log" 2>&1 &
PIDS+=($!)
wait_for "$STATE/data-plane.log" '"msg":"listening"' "the data-plane"
FINGERPRINT=$(sed -n 's/.*"fingerprint":"\([^"]*\)".*/\1/p' "$STATE/data-plane.log" | head -1)

cat >"$STATE/demo/index.html" <<HTML
<!doctype html><title>HopGate demo</title>
<h1>Hello through HopGate</h1>
<p>This page is served by a local service on 127.0.0.1:3000, reached through the
data-plane and the agent's DTLS session.</p>
HTML
python3 -m http.server 3000 --bind 127.0.0.1 --directory "$STATE/demo" \
    >"$STATE/demo-service.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
    curl -s -o /dev/null http://127.0.0.1:3000/ && break
    sleep 0.1
done

# The admin CLI (the same binary) registers the demo domain through the admin API.
REGISTERED=$(HOP_ADMIN_KEY="$ADMIN_KEY" "$BIN/hopgate-control-plane" admin domains add \
    "$DEMO_DOMAIN" --url http://127.0.0.1:8081 --memo scripts/dev.sh --json) ||
    { echo "dev.sh: registering $DEMO_DOMAIN failed" >&2; exit 1; }
CLIENT_KEY=$(printf '%s' "$REGISTERED" | sed -n 's/.*"client_api_key": *"\([0-9a-f]*\)".*/\1/p')
[ -n "$CLIENT_KEY" ] || { echo "dev.sh: no client key in: $REGISTERED" >&2; exit 1; }

"$BIN/hopgate-agent" http 127.0.0.1:3000 --domain "$DEMO_DOMAIN" --key "$CLIENT_KEY" \
    --server "127.0.0.1:$HTTPS_PORT" --server-name "$MAIN_DOMAIN" \
    --fingerprint "$FINGERPRINT" --debug >"$STATE/agent.log" 2>&1 &
PIDS+=($!)
wait_for "$STATE/agent.log" '^connected' "the agent"

CURL="curl --cacert $STATE/dp/debug-cert.pem --resolve $DEMO_DOMAIN:$HTTPS_PORT:127.0.0.1 https://$DEMO_DOMAIN:$HTTPS_PORT/"
cat <<EOF

HopGate is running (logs in $STATE/):
  control-plane  admin API http://127.0.0.1:8081  (admin key: $ADMIN_KEY)
  data-plane     HTTPS + DTLS 127.0.0.1:$HTTPS_PORT, metrics http://127.0.0.1:9100/metrics
  agent          https://$DEMO_DOMAIN:$HTTPS_PORT -> http://127.0.0.1:3000 (demo service)
                 $(grep -o '^inspector: .*' "$STATE/agent.log" | head -1)

Open https://$DEMO_DOMAIN:$HTTPS_PORT/ (names under .localhost resolve to this machine;
the certificate is the debug one: $STATE/dp/debug-cert.pem), or:

  $CURL

Ctrl-C stops everything.
EOF
$CURL -sS -o /dev/null -w "check: the demo page answered %{http_code} through the tunnel\n" || true
wait
