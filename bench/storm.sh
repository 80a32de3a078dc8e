#!/usr/bin/env bash
# What a handshake storm costs an established session: one debug data-plane, one agent for
# one domain in front of nginx (1 worker, a 100-byte file), and hopgate-storm-bench, whose
# visitor requests that domain through the pod at 200 requests/s (one at a time,
# keep-alive HTTPS) while N more agent sessions (default 1,000) dial the pod at once after
# a 10 s baseline. A second visitor requests nginx directly, as the reference for how busy
# the machine was. One figure a line: `name value unit`.
# Needs nginx (Debian package). Usage: N=1000 bench/storm.sh
# STORM_PERF_DATA=FILE also records the pod with `perf record` (call graphs) during the storm.
# STORM_DIALLER_NICE=n: the dialling sessions' threads run at nice n (default 19: they stand
# for agents on other hosts and take only the cores the measured path leaves idle; 0 = the
# same priority as the pod and the visitors).
# SOURCE_IPS=n: the storm's sessions dial from n loopback addresses (127.0.0.2, …) in turn,
# as agents on n hosts, spread over the pod's DTLS sockets; by default all from 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
command -v nginx >/dev/null || { echo "$0 needs nginx (apt-get install nginx)" >&2; exit 2; }
cargo build --release --locked -q -p hopgate-data-plane -p hopgate-agent -p hopgate-bench
RELEASE=${CARGO_TARGET_DIR:-target}/release
source bench/dev_pod.sh
open_files_for_sessions "$N"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The local service: nginx, one worker, a 100-byte file.
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

# The pod: the visitor's domain and N storm domains.
KEY=bench-key-0123456789abcdef0123456789
SUFFIX=gw.hopgate.test
DOMAIN=visitor.$SUFFIX
start_dev_pod "$N" "$DOMAIN"; PIDS+=("$DP_PID")
HTTPS=$(field https); DTLS=$(field dtls); FINGERPRINT=$(field fingerprint)

# The established session: the real agent for the visitor's domain.
"$RELEASE/hopgate-agent" http "127.0.0.1:$NGINX_PORT" --domain "$DOMAIN" --key "$KEY" \
  --server "$DTLS" --server-name "$SUFFIX" --fingerprint "$FINGERPRINT" --debug --inspect off \
  > "$WORK/agent.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do grep -q '^connected' "$WORK/agent.log" 2>/dev/null && break; sleep 0.1; done
grep -q '^connected' "$WORK/agent.log" || { echo "agent did not connect:" >&2; cat "$WORK/agent.log" >&2; exit 1; }

"$RELEASE/hopgate-storm-bench" "$HTTPS" "$DOMAIN" "$WORK/dp/debug-cert.pem" \
  "127.0.0.1:$NGINX_PORT" "$DTLS" "$FINGERPRINT" "$KEY" "$SUFFIX" \
  "$N" "$DP_PID" "$(getconf CLK_TCK)"
