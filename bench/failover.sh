#!/usr/bin/env bash
# Agent pools and failover: nginx (1 worker) as the local service, wrk as the load, a debug
# data-plane and agents started with --pool, all on loopback, release builds, one run.
# Prints, one figure a line (`name value unit`):
#   failover.pool1_c64_rps, failover.pool2_c64_rps  wrk -c64 through one pooled agent, then
#                                                   through two (the same nginx behind both);
#                                                   medians of three rounds, interleaved
#   failover.pool2_c64_rps_ratio                    two ÷ one (target >= 0.9)
#   failover.agent_kill_requests                    requests wrk completed while one of the
#                                                   two agents was killed (SIGKILL) mid-run
#   failover.agent_kill_failed                      of those, non-2xx answers and socket
#                                                   errors (target 0)
#   failover.retries                                hopgate_request_retries_total, all reasons
#   failover.pod_kill_requests, _failed             three pods, one agent with two sessions
#                                                   (--ha-connections 2), ~200 GETs/s by
#                                                   reqwest through the third pod and the
#                                                   survivor; one session's pod SIGKILLed
#                                                   (target 0 failed)
#   failover.pod_kill_two_pods_again_ms             until the agent held two pods again
#   failover.rolling_restart_requests, _failed      the same three pods restarted one by one
#                                                   (SIGTERM, wait, start) under that load
#                                                   (target 0 failed)
# The last two are e2e/tests/ha_failover.rs in the test build (a control-plane, a UDP
# load balancer that sends new flows to ready pods, visitors sent to ready pods only).
# Needs: nginx, wrk, curl (Debian packages). Usage: bench/failover.sh [seconds per load run]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-5}
AGENT_ARGS=(--pool)
source bench/tunnel_setup.sh

URL="https://127.0.0.1:$HTTPS_PORT/100b"
METRICS=$(grep -o '"metrics":"[^"]*"' "$WORK/dp.log" | head -1 | cut -d'"' -f4)
rps() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }

start_pooled_agent() { # log file
  start_agent "$DOMAIN" "$1" --inspect off --pool
  grep -q 'joined the pool' "$1" || { echo "agent did not join the pool:" >&2; cat "$1" >&2; exit 1; }
}

# One agent, then two, three times over (the second leaves between rounds), so that a
# change in the machine's load hits both figures alike; the medians are printed.
pooled() { curl -s "http://$METRICS/metrics" | awk '/^hopgate_pool_sessions / {print $2}'; }
ones=(); twos=()
for round in 1 2 3; do
  ones+=("$(rps "$(wrk -t1 -c64 -d"${DURATION}s" -H "Host: $DOMAIN" "$URL")")")
  start_pooled_agent "$WORK/agent2_$round.log"
  SECOND_PID=$STARTED_PID
  twos+=("$(rps "$(wrk -t1 -c64 -d"${DURATION}s" -H "Host: $DOMAIN" "$URL")")")
  if [ "$round" -lt 3 ]; then
    kill -TERM "$SECOND_PID"; wait "$SECOND_PID" || true
    for _ in $(seq 100); do [ "$(pooled)" = 1 ] && break; sleep 0.1; done
  fi
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
one=$(median "${ones[@]}"); two=$(median "${twos[@]}")
echo "failover.pool1_c64_rps $one rps"
echo "failover.pool2_c64_rps $two rps"
awk -v a="$two" -v b="$one" 'BEGIN {printf "failover.pool2_c64_rps_ratio %.2f ratio\n", a/b}'

# Kill the first agent 2 s into a 10 s run; a request on its session waits for the session
# to be declared dead (its agent unheard for 4 s), then is retried on the other: wrk's
# timeout is above that, and the run lasts long enough for those requests to be counted.
(sleep 2; kill -9 "$AGENT_PID") & KILLER=$!
killed=$(wrk -t1 -c16 -d10s --timeout 15s -H "Host: $DOMAIN" "$URL")
wait "$KILLER"
requests=$(awk '/requests in/ {print $1}' <<<"$killed")
non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$killed")
socket=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' <<<"$killed")
echo "failover.agent_kill_requests ${requests:-0} requests"
echo "failover.agent_kill_failed $(( ${non2xx:-0} + ${socket:-0} )) requests"
retries=$(curl -s "http://$METRICS/metrics" | awk '/^hopgate_request_retries_total/ {n += $2} END {print n + 0}')
echo "failover.retries $retries requests"
kill -0 "$SECOND_PID" || { echo "the second agent died" >&2; exit 1; }

# Pod kill and rolling restart: e2e/tests/ha_failover.rs in the test suite's build
# (optimized, with debug info: the binaries it starts must come from one workspace build,
# and a release build of every test takes over an hour on 2 cores). These two figures
# count failed requests, not speed.
cargo nextest run --workspace --locked --no-capture -E 'binary(ha_failover)' 2>&1 \
  | grep '^failover\.'
