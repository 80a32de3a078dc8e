#!/usr/bin/env bash
# Where the CPU goes: the same set-up as bench/http.sh (nginx, data-plane, agent,
# all on loopback), one wrk run at 64 connections through the tunnel, and per request: the
# CPU time of the data-plane and the agent (and, as a yardstick, of nginx and wrk), their
# context switches, and UDP datagrams. Then per 100 MB moved through the tunnel, three
# downloads and three uploads: the data-plane's and the agent's CPU time (milliseconds).
# One figure a line. Needs nginx, wrk, curl. Usage: bench/cpu_per_request.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
source bench/tunnel_setup.sh

# Per-process CPU (utime + stime, in clock ticks), voluntary + involuntary context switches.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
switches() { awk '/ctxt_switches/ {n += $2} END {print n}' "/proc/$1/status"; }
udp_in() { awk '/^Udp:/ {n++; if (n == 2) print $2}' /proc/net/snmp; }
HZ=$(getconf CLK_TCK)
# nginx (the local service) and wrk do the same work per request in every run: their CPU
# per request is the yardstick for how fast this machine is right now.
NGINX_WORKER=$(pgrep -P "${PIDS[0]}" | head -1)
d0=$(cpu_ticks "$DP_PID"); a0=$(cpu_ticks "$AGENT_PID"); n0=$(cpu_ticks "$NGINX_WORKER")
ds0=$(switches "$DP_PID"); as0=$(switches "$AGENT_PID"); u0=$(udp_in)
TIMEFORMAT='%U %S'
{ time wrk -t1 -c64 -d"${DURATION}s" "https://127.0.0.1:$HTTPS_PORT/100b" -H "Host: $DOMAIN" > "$WORK/wrk.out"; } 2> "$WORK/wrk.time"
out=$(cat "$WORK/wrk.out")
d1=$(cpu_ticks "$DP_PID"); a1=$(cpu_ticks "$AGENT_PID"); n1=$(cpu_ticks "$NGINX_WORKER")
ds1=$(switches "$DP_PID"); as1=$(switches "$AGENT_PID"); u1=$(udp_in)
requests=$(awk '/requests in/ {print $1}' <<<"$out")
per() { awk -v v="$1" -v r="$requests" -v s="${2:-1}" 'BEGIN {printf "%.2f", v * s / r}'; }
echo "hopgate_https.c64_rps $(awk '/Requests\/sec/ {print $2}' <<<"$out") rps"
echo "hopgate.dp_cpu_us_per_request $(per $((d1 - d0)) $((1000000 / HZ))) us"
echo "hopgate.agent_cpu_us_per_request $(per $((a1 - a0)) $((1000000 / HZ))) us"
echo "hopgate.nginx_cpu_us_per_request $(per $((n1 - n0)) $((1000000 / HZ))) us"
echo "hopgate.wrk_cpu_us_per_request $(per "$(awk '{print ($1 + $2) * 1000000}' "$WORK/wrk.time")") us"
echo "hopgate.dp_context_switches_per_request $(per $((ds1 - ds0))) switches"
echo "hopgate.agent_context_switches_per_request $(per $((as1 - as0))) switches"
# Loopback: every datagram, either way, is received once.
echo "hopgate.udp_datagrams_per_request $(per $((u1 - u0))) datagrams"

# Per 100 MB: CPU time does not depend on how busy the machine is the way MB/s does.
CURL_TUNNEL=(curl -sS --fail --resolve "$DOMAIN:$HTTPS_PORT:127.0.0.1" --cacert "$WORK/dp/debug-cert.pem")
per_100mb() { # name command...
  local name=$1; shift
  local d0 a0 d1 a1
  d0=$(cpu_ticks "$DP_PID"); a0=$(cpu_ticks "$AGENT_PID")
  for i in 1 2 3; do "$@" "$i"; done
  d1=$(cpu_ticks "$DP_PID"); a1=$(cpu_ticks "$AGENT_PID")
  local ms=$((1000 / HZ))
  echo "hopgate.dp_cpu_ms_per_100MB_$name $(((d1 - d0) * ms / 3)) ms"
  echo "hopgate.agent_cpu_ms_per_100MB_$name $(((a1 - a0) * ms / 3)) ms"
}
download() { "${CURL_TUNNEL[@]}" -o /dev/null "https://$DOMAIN:$HTTPS_PORT/100mb"; }
upload() {
  "${CURL_TUNNEL[@]}" -H 'Expect:' -T "$WORK/www/100mb" -o /dev/null "https://$DOMAIN:$HTTPS_PORT/upload/cpu-$1"
  cmp -s "$WORK/www/100mb" "$SINK/upload/cpu-$1" || { echo "upload $1 did not arrive whole" >&2; exit 1; }
  rm -f "$SINK/upload/cpu-$1"
}
per_100mb download download
per_100mb upload upload
