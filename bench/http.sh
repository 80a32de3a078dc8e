#!/usr/bin/env bash
# HTTP benchmark (issue 3): nginx (1 worker) as the local service, wrk as the load, all on
# loopback, in one run for `direct` (wrk -> nginx) and `hopgate_https` (wrk -> data-plane
# over HTTPS -> DTLS -> agent -> nginx). One figure a line: `name value unit`.
# Needs: nginx, wrk, curl (Debian packages). Usage: bench/http.sh [seconds per load run]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
for tool in nginx wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench/http.sh needs $tool (apt-get install nginx wrk curl)" >&2; exit 2; }
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
head -c 100000000 /dev/urandom > "$WORK/www/100mb"
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

CURL_TUNNEL=(curl -sS --fail --resolve "$DOMAIN:$HTTPS_PORT:127.0.0.1" --cacert "$WORK/dp/debug-cert.pem")
"${CURL_TUNNEL[@]}" -o /dev/null "https://$DOMAIN:$HTTPS_PORT/100b"

# wrk: requests/s and latency percentiles (ms).
load() { # system url connections extra-args...
  local system=$1 url=$2 c=$3; shift 3
  local out; out=$(wrk -t1 -c"$c" -d"${DURATION}s" --latency "$@" "$url")
  local rps; rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  echo "$system.c${c}_rps $rps rps"
  if [ "$c" != 16 ]; then
    local to_ms='function ms(v){ if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }'
    [ "$c" = 1 ] && echo "$system.c${c}_p50_ms $(awk "$to_ms"' /^ +50%/ {print ms($2)}' <<<"$out") ms"
    echo "$system.c${c}_p99_ms $(awk "$to_ms"' /^ +99%/ {print ms($2)}' <<<"$out") ms"
  fi
}
bulk() { # system curl-args... ; median MB/s of 3 downloads of 100 MB
  local system=$1; shift
  local speeds=()
  for _ in 1 2 3; do speeds+=("$("$@" -o /dev/null -w '%{speed_download}')"); done
  printf '%s\n' "${speeds[@]}" | sort -n | sed -n 2p | awk -v s="$system" '{printf "%s.bulk100_MBps %.1f MB/s\n", s, $1/1e6}'
}

for c in 1 16 64; do load direct "http://127.0.0.1:$NGINX_PORT/100b" "$c"; done
for c in 1 16 64; do load hopgate_https "https://127.0.0.1:$HTTPS_PORT/100b" "$c" -H "Host: $DOMAIN"; done
bulk direct curl -sS --fail "http://127.0.0.1:$NGINX_PORT/100mb"
bulk hopgate_https "${CURL_TUNNEL[@]}" "https://$DOMAIN:$HTTPS_PORT/100mb"
echo "hopgate.dp_rss_MiB $(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$DP_PID/status) MiB"
echo "hopgate.agent_rss_MiB $(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$AGENT_PID/status) MiB"
