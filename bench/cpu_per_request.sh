#!/usr/bin/env bash
# Where the CPU goes (issue 3): the same set-up as bench/http.sh (nginx, data-plane, agent,
# all on loopback), one wrk run at 64 connections through the tunnel, and per request: the
# CPU time of the data-plane and the agent, their context switches, and UDP datagrams.
# One figure a line. Needs nginx, wrk, curl. Usage: bench/cpu_per_request.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
for tool in nginx wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench/cpu_per_request.sh needs $tool (apt-get install nginx wrk curl)" >&2; exit 2; }
done
cargo build --release --locked -q -p hopgate-data-plane -p hopgate-agent
WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The local service: nginx, one worker, a 100-byte file and a 100 MB file.
NGINX_PORT=$(free_port)
mkdir -p "$WORK/www" "$WORK/nginx"
chmod 755 "$WORK" "$WORK/www"   # nginx workers may run as another user
head -c 100 /dev/zero | tr '\0' 'x' > "$WORK/www/100b"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx;
  scgi_temp_path $WORK/nginx;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/www; }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & PIDS+=($!)

# The gateway, debug mode, one development domain.
KEY=bench-key-0123456789abcdef0123456789
DOMAIN=bench.hopgate.test
HOP_SERVER_DOMAIN=gw.hopgate.test HOP_SERVER_DEBUG=true \
HOP_SERVER_HTTP_LISTEN=127.0.0.1:0 HOP_SERVER_HTTPS_LISTEN=127.0.0.1:0 \
HOP_SERVER_DTLS_LISTEN=127.0.0.1:0 HOP_METRICS_LISTEN=127.0.0.1:0 \
HOP_SERVER_STATE_DIR="$WORK/dp" HOP_DEV_DOMAINS="$DOMAIN=$KEY" \
  target/release/hopgate-data-plane > "$WORK/dp.log" 2>&1 & DP_PID=$!; PIDS+=($DP_PID)
for _ in $(seq 100); do grep -q '"msg":"listening"' "$WORK/dp.log" 2>/dev/null && break; sleep 0.1; done
field() { grep -o "\"$1\":\"[^\"]*\"" "$WORK/dp.log" | head -1 | cut -d'"' -f4; }
HTTPS=$(field https); DTLS=$(field dtls); FINGERPRINT=$(field fingerprint)
HTTPS_PORT=${HTTPS##*:}

target/release/hopgate-agent http "127.0.0.1:$NGINX_PORT" --domain "$DOMAIN" --key "$KEY" \
  --server "$DTLS" --server-name gw.hopgate.test --fingerprint "$FINGERPRINT" --debug \
  > "$WORK/agent.log" 2>&1 & AGENT_PID=$!; PIDS+=($AGENT_PID)
for _ in $(seq 100); do grep -q '^connected' "$WORK/agent.log" 2>/dev/null && break; sleep 0.1; done
grep -q '^connected' "$WORK/agent.log" || { echo "agent did not connect:" >&2; cat "$WORK/agent.log" >&2; exit 1; }

# Per-process CPU (utime + stime, in clock ticks), voluntary + involuntary context switches.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
switches() { awk '/ctxt_switches/ {n += $2} END {print n}' "/proc/$1/status"; }
udp_in() { awk '/^Udp:/ {n++; if (n == 2) print $2}' /proc/net/snmp; }
HZ=$(getconf CLK_TCK)
d0=$(cpu_ticks "$DP_PID"); a0=$(cpu_ticks "$AGENT_PID")
ds0=$(switches "$DP_PID"); as0=$(switches "$AGENT_PID"); u0=$(udp_in)
out=$(wrk -t1 -c64 -d"${DURATION}s" "https://127.0.0.1:$HTTPS_PORT/100b" -H "Host: $DOMAIN")
d1=$(cpu_ticks "$DP_PID"); a1=$(cpu_ticks "$AGENT_PID")
ds1=$(switches "$DP_PID"); as1=$(switches "$AGENT_PID"); u1=$(udp_in)
requests=$(awk '/requests in/ {print $1}' <<<"$out")
per() { awk -v v="$1" -v r="$requests" -v s="${2:-1}" 'BEGIN {printf "%.2f", v * s / r}'; }
echo "hopgate_https.c64_rps $(awk '/Requests\/sec/ {print $2}' <<<"$out") rps"
echo "hopgate.dp_cpu_us_per_request $(per $((d1 - d0)) $((1000000 / HZ))) us"
echo "hopgate.agent_cpu_us_per_request $(per $((a1 - a0)) $((1000000 / HZ))) us"
echo "hopgate.dp_context_switches_per_request $(per $((ds1 - ds0))) switches"
echo "hopgate.agent_context_switches_per_request $(per $((as1 - as0))) switches"
# Loopback: every datagram, either way, is received once.
echo "hopgate.udp_datagrams_per_request $(per $((u1 - u0))) datagrams"
