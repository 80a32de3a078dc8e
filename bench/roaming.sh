#!/usr/bin/env bash
# What a change of the agent's network path costs visitors: the agent dials the pod through
# a UDP relay (hopgate-roaming-bench) while a visitor GET goes out every 100 ms; the relay
# rebinds (a new source port, as a NAT does), then drops all UDP for 10 s. The agent runs
# with `--transport auto` and `--tcp-server` on the pod's HTTPS port: it moves to TCP when
# its UDP goes silent, and back once UDP answers again. One figure a line:
# `name value unit`. Release builds go to CARGO_TARGET_DIR (default target/).
# Needs: nginx, wrk, curl (bench/tunnel_setup.sh). Usage: bench/roaming.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p hopgate-bench --bin hopgate-roaming-bench
# Builds the pod and the agent, starts nginx, the pod and an agent dialling the pod
# directly; that agent is stopped: the measured one dials through the relay.
# shellcheck source=bench/tunnel_setup.sh
source bench/tunnel_setup.sh
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true

"$RELEASE/hopgate-roaming-bench" "$HTTPS" "$DOMAIN" "$WORK/dp/debug-cert.pem" "$DTLS" \
  "$WORK/roaming-agent.log" -- \
  "$RELEASE/hopgate-agent" http "127.0.0.1:$NGINX_PORT" --domain "$DOMAIN" --key "$KEY" \
  --server '{relay}' --server-name gw.hopgate.test --fingerprint "$FINGERPRINT" --debug \
  --inspect off --transport auto --tcp-server "$HTTPS"
