#!/usr/bin/env bash
# How many cores the data-plane uses when many agents carry its load: the set-up of
# bench/http.sh (nginx as the local service, a debug data-plane, all on loopback, release
# builds) with AGENTS agents (default 16) in one pool for the domain, each on its own
# session from its own loopback address (127.0.0.2, .3, …: agents on distinct hosts, which
# the pod spreads over the sockets of its DTLS port by source IP), and wrk at 64
# connections through the pod. One figure a line:
#   cores.machine                 the machine's cores (nproc)
#   cores.agents                  agents in the pool
#   cores.dp_socket_sessions      sessions on each socket of the pod's DTLS port
#   cores.c64_rps                 requests per second
#   cores.dp_cores                the data-plane's CPU time over the run's wall time
#   cores.dp_busiest_thread_cores the same for its busiest thread alone
#   cores.dp_busiest_thread       that thread's name
#   cores.agents_cores            all agents together
#   cores.nginx_wrk_cores         the local service and the load generator together
# A pod that spreads over its cores shows dp_cores > 1.5 where the machine leaves it room;
# a busiest thread near 1.0 while dp_cores stays low is a pod held to one thread.
# Needs: nginx, wrk, curl (Debian packages). Usage: AGENTS=16 bench/cores.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
AGENTS=${AGENTS:-16}
AGENT_ARGS=(--pool --local-ip 127.0.0.2)
source bench/tunnel_setup.sh

AGENT_PIDS=("$AGENT_PID")
for i in $(seq 2 "$AGENTS"); do
  start_agent "$DOMAIN" "$WORK/agent$i.log" --inspect off --pool --local-ip "127.0.0.$((i + 1))"
  AGENT_PIDS+=("$STARTED_PID")
done
METRICS=$(grep -o '"metrics":"[^"]*"' "$WORK/dp.log" | head -1 | cut -d'"' -f4)
pooled=$(curl -s "http://$METRICS/metrics" | awk '/^hopgate_pool_sessions / {print $2}')
[ "$pooled" = "$AGENTS" ] || { echo "only $pooled of $AGENTS agents in the pool" >&2; exit 1; }
socket_sessions=$(curl -s "http://$METRICS/metrics" |
  awk '/^hopgate_dtls_socket_sessions[{]/ {printf "%s%s", sep, $2; sep = ","}')

# CPU time (utime + stime, clock ticks) of a process, or of one of its threads.
ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "$1"; }
sum_ticks() { local n=0 pid; for pid in "$@"; do n=$((n + $(ticks "/proc/$pid/stat"))); done; echo "$n"; }
thread_ticks() { # pid -> "tid ticks" per thread
  local task; for task in /proc/"$1"/task/*; do echo "${task##*/} $(ticks "$task/stat")"; done
}
NGINX_WORKER=$(pgrep -P "${PIDS[0]}" | head -1)
HZ=$(getconf CLK_TCK)

thread_ticks "$DP_PID" > "$WORK/threads.before"
d0=$(sum_ticks "$DP_PID"); a0=$(sum_ticks "${AGENT_PIDS[@]}"); n0=$(sum_ticks "$NGINX_WORKER")
start=$(date +%s.%N)
TIMEFORMAT='%U %S'
{ time wrk -t1 -c64 -d"${DURATION}s" -H "Host: $DOMAIN" "https://127.0.0.1:$HTTPS_PORT/100b" > "$WORK/wrk.out"; } 2> "$WORK/wrk.time"
wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {print e - s}')
d1=$(sum_ticks "$DP_PID"); a1=$(sum_ticks "${AGENT_PIDS[@]}"); n1=$(sum_ticks "$NGINX_WORKER")
thread_ticks "$DP_PID" > "$WORK/threads.after"

cores() { awk -v t="$1" -v hz="$HZ" -v w="$wall" 'BEGIN {printf "%.2f", t / hz / w}'; }
busiest=$(awk 'NR == FNR {before[$1] = $2; next} {print $2 - before[$1], $1}' \
  "$WORK/threads.before" "$WORK/threads.after" | sort -rn | head -1)
busiest_tid=${busiest#* }
wrk_ticks=$(awk -v hz="$HZ" '{printf "%d", ($1 + $2) * hz}' "$WORK/wrk.time")
echo "cores.machine $(nproc) cores"
echo "cores.agents $AGENTS agents"
echo "cores.dp_socket_sessions $socket_sessions sessions"
echo "cores.c64_rps $(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out") rps"
echo "cores.dp_cores $(cores $((d1 - d0))) cores"
echo "cores.dp_busiest_thread_cores $(cores "${busiest%% *}") cores"
echo "cores.dp_busiest_thread $(tr ' ' '_' < "/proc/$DP_PID/task/$busiest_tid/comm") name"
echo "cores.agents_cores $(cores $((a1 - a0))) cores"
echo "cores.nginx_wrk_cores $(cores $((n1 - n0 + wrk_ticks))) cores"
