#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: the same binary under the same
# load gives the same count to within about 1.5 % whatever else the machine is doing, where
# CPU time swings by a third between identical runs on a shared VM. The data-plane
# and the agent run under callgrind, and so do nginx in the gateway's two places as the
# yardstick (bench/nginx_reference.sh: the TLS proxy is the pod's counterpart, the plain
# proxy the agent's); the local service runs natively. Each load's requests go through the
# tunnel and then through nginx's two hops; each process's instructions per request:
#
#   instructions.<load>.dp / .agent / .nginx_tls_proxy / .nginx_plain_proxy   (per request)
#   instructions.<load>.dp_vs_nginx_tls_proxy, .agent_vs_nginx_plain_proxy,
#   .tunnel_vs_nginx_2hop                                                      (ratios)
#
# Loads: `keepalive` (16 connections, 100 bytes, KEEPALIVE_REQUESTS requests, 2,000 by
# default) and `close` (4 at a time, `Connection: close`: a TCP connection and a resumed
# TLS handshake per request, CLOSE_REQUESTS, 200 by default). User-space instructions only:
# system calls, the kernel's work and waits between threads are not counted (CPU time,
# with them, is bench/cpu_per_request.sh's), and callgrind runs a process's threads one at
# a time, so the count of a multi-threaded process includes no lock contention.
# Each process's callgrind profile of each load is kept for callgrind_annotate, as
# $PROFILE_DIR/LOAD.PROCESS.callgrind (default target/instructions).
# Needs valgrind, nginx, wrk, curl, openssl. Usage: bench/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in valgrind callgrind_control; do
  command -v "$tool" >/dev/null || { echo "$0 needs $tool (apt-get install valgrind)" >&2; exit 2; }
done
PROFILE_DIR=${PROFILE_DIR:-target/instructions}
rm -rf "$PROFILE_DIR" && mkdir -p "$PROFILE_DIR"
PROFILE_DIR=$(realpath "$PROFILE_DIR")
# glibc's memset and memcpy use `rep stosb`/`rep movsb` for blocks of 2 KiB and more, which
# callgrind counts a byte at a time (a zeroed 3 KiB array would count as 3,000
# instructions); the tunables keep them on their vector loops, counted as the CPU runs them.
REP_OFF=glibc.cpu.x86_rep_stosb_threshold=0x7fffffff:glibc.cpu.x86_rep_movsb_threshold=0x7fffffff
callgrind() { # name: a runner whose profiles are $PROFILE_DIR/name.PID[.dump]
  echo "env GLIBC_TUNABLES=$REP_OFF valgrind --tool=callgrind --fair-sched=try \
--callgrind-out-file=$PROFILE_DIR/$1.%p --log-file=$PROFILE_DIR/$1.%p.log"
}
cargo build --release --locked -q -p hopgate-bench --bin hopgate-load-bench
LOAD=$(realpath "${CARGO_TARGET_DIR:-target}/release/hopgate-load-bench")
START_WAIT_S=120
DP_RUNNER=$(callgrind dp) AGENT_RUNNER=$(callgrind agent)
source bench/tunnel_setup.sh
# The reference nginx serve from their one process (no master and worker), for callgrind
# to count and be told when to dump in one place.
NGINX_RUNNER=$(callgrind nginx) NGINX_MAIN_CONF='master_process off;' source bench/nginx_reference.sh
TLS_PROXY=$(cat "$WORK/ref-2hop/nginx.pid")
PLAIN_PROXY=$(cat "$WORK/ref-plain-hop/nginx.pid")

# Each load is a fixed number of requests after a warm-up on the same connections, the
# processes' counters zeroed between the two and dumped before any connection closes
# (bench/src/load_bench.rs), so no warm-up work is counted.
KEEPALIVE_REQUESTS=${KEEPALIVE_REQUESTS:-2000}
CLOSE_REQUESTS=${CLOSE_REQUESTS:-200}
each() { # verb pids...: callgrind_control's command line for each process, chained
  local verb=$1 pid line=""; shift
  for pid in "$@"; do line+="callgrind_control $verb $pid >/dev/null 2>&1 && "; done
  echo "${line}true"
}
# The total of the profile PID dumped last, kept as $PROFILE_DIR/LOAD.ROLE.callgrind.
dumped_total() { # load role pid
  local file=""
  for _ in $(seq 100); do
    file=$(find "$PROFILE_DIR" -name "*.$3.[0-9]*" ! -name '*.log' | head -1)
    [ -n "$file" ] && break
    sleep 0.1
  done
  [ -n "$file" ] || { echo "callgrind wrote no profile for $2 ($3)" >&2; exit 1; }
  mv "$file" "$PROFILE_DIR/$1.$2.callgrind"
  awk '/^totals:/ {print $2}' "$PROFILE_DIR/$1.$2.callgrind"
}
measure() { # load name port ca role pid role pid ... : "requests total total ..."
  local load=$1 name=$2 port=$3 ca=$4; shift 4
  local procs=("$@") pids=() i out totals=()
  for ((i = 1; i < ${#procs[@]}; i += 2)); do pids+=("${procs[i]}"); done
  local args=("https://$name:$port/100b" 127.0.0.1 "$ca" "$DOMAIN")
  if [ "$load" = close ]; then
    args=(--close "${args[@]}" 4 40 "$CLOSE_REQUESTS")
  else
    args=("${args[@]}" 16 800 "$KEEPALIVE_REQUESTS")
  fi
  out=$("$LOAD" "${args[@]}" "$(each -z "${pids[@]}")" "$(each -d "${pids[@]}")")
  totals=("$(awk '/^load.requests/ {print $2}' <<<"$out")")
  for ((i = 0; i < ${#procs[@]}; i += 2)); do
    totals+=("$(dumped_total "$load" "${procs[i]}" "${procs[i + 1]}")")
  done
  echo "${totals[@]}"
}
per() { awk -v i="$1" -v r="$2" 'BEGIN {printf "%.0f", i / r}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

for load in keepalive close; do
  read -r t_req dp agent <<<"$(measure "$load" "$DOMAIN" "$HTTPS_PORT" \
    "$WORK/dp/debug-cert.pem" dp "$DP_PID" agent "$AGENT_PID")"
  read -r n_req tls plain <<<"$(measure "$load" "$NGINX_REFERENCE_NAME" "$NGINX_2HOP_PORT" \
    "$WORK/reference-cert.pem" nginx_tls_proxy "$TLS_PROXY" nginx_plain_proxy "$PLAIN_PROXY")"
  dp=$(per "$dp" "$t_req"); agent=$(per "$agent" "$t_req")
  tls=$(per "$tls" "$n_req"); plain=$(per "$plain" "$n_req")
  echo "instructions.$load.requests_tunnel $t_req requests"
  echo "instructions.$load.requests_nginx_2hop $n_req requests"
  echo "instructions.$load.dp $dp instructions/request"
  echo "instructions.$load.agent $agent instructions/request"
  echo "instructions.$load.nginx_tls_proxy $tls instructions/request"
  echo "instructions.$load.nginx_plain_proxy $plain instructions/request"
  echo "instructions.$load.dp_vs_nginx_tls_proxy $(ratio "$dp" "$tls")"
  echo "instructions.$load.agent_vs_nginx_plain_proxy $(ratio "$agent" "$plain")"
  echo "instructions.$load.tunnel_vs_nginx_2hop $(ratio $((dp + agent)) $((tls + plain)))"
done
