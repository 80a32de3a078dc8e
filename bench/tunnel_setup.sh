# Sourced by bench/http.sh and bench/cpu_per_request.sh: builds the release binaries and
# starts nginx (1 worker, a 100-byte and a 100 MB file, and `PUT /upload/NAME`, which reads a
# whole body into a file before it answers), a debug data-plane and an agent on loopback.
# Sets WORK, SINK (where uploads land), PIDS, NGINX_PORT, DOMAIN, KEY, DTLS, FINGERPRINT, HTTPS, HTTPS_PORT,
# DP_PID, AGENT_PID; cleans up on exit. The agent's inspector is off; AGENT_ARGS (an array,
# optional) goes to its command. `start_agent DOMAIN LOG ARGS...` starts another agent
# (for INSPECT_DOMAIN, the pod's second domain, or the first again with other flags).
# DP_RUNNER and AGENT_RUNNER (optional, split into words) go before the data-plane's and
# the agents' commands, e.g. a profiler; START_WAIT_S (default 10) is how long each may
# take to come up.
for tool in nginx wrk curl; do
  command -v "$tool" >/dev/null || { echo "$0 needs $tool (apt-get install nginx wrk curl)" >&2; exit 2; }
done
cargo build --release --locked -q -p hopgate-data-plane -p hopgate-agent
RELEASE=${CARGO_TARGET_DIR:-target}/release
WORK=$(mktemp -d)
PIDS=()
# Uploads land in memory (tmpfs), so that the disk is not what an upload measures.
SINK=$(mktemp -d /dev/shm/hopgate-bench.XXXXXX)
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK" "$SINK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The local service: nginx, one worker, a 100-byte file and a 100 MB file; `PUT /upload/x`
# (WebDAV) reads the whole body into a temporary file, renames it to $SINK/upload/x and
# only then answers 201 or 204.
NGINX_PORT=$(free_port)
mkdir -p "$WORK/www" "$WORK/nginx" "$SINK/upload" "$SINK/tmp"
chmod 755 "$WORK" "$WORK/www"   # nginx workers may run as another user
chmod 777 "$SINK" "$SINK/upload" "$SINK/tmp"
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
  server {
    listen 127.0.0.1:$NGINX_PORT; root $WORK/www;
    location /upload/ {
      root $SINK; dav_methods PUT; client_max_body_size 0;
      client_body_temp_path $SINK/tmp; client_body_buffer_size 1m;
    }
  }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & PIDS+=($!)

# The gateway, debug mode, one development domain. wrk opens all its connections from one
# address at once: the per-IP handshake cap is raised to the benchmark's largest count.
KEY=bench-key-0123456789abcdef0123456789
DOMAIN=bench.hopgate.test
INSPECT_DOMAIN=inspect.bench.hopgate.test
HOP_SERVER_MAX_HANDSHAKES_PER_IP=64 \
HOP_SERVER_DOMAIN=gw.hopgate.test HOP_SERVER_DEBUG=true \
HOP_SERVER_HTTP_LISTEN=127.0.0.1:0 HOP_SERVER_HTTPS_LISTEN=127.0.0.1:0 \
HOP_SERVER_DTLS_LISTEN=127.0.0.1:0 HOP_METRICS_LISTEN=127.0.0.1:0 \
HOP_SERVER_STATE_DIR="$WORK/dp" HOP_DEV_DOMAINS="$DOMAIN=$KEY,$INSPECT_DOMAIN=$KEY" \
  ${DP_RUNNER:-} "$RELEASE/hopgate-data-plane" > "$WORK/dp.log" 2>&1 & DP_PID=$!; PIDS+=($DP_PID)
START_TRIES=$((${START_WAIT_S:-10} * 10))
for _ in $(seq "$START_TRIES"); do grep -q '"msg":"listening"' "$WORK/dp.log" 2>/dev/null && break; sleep 0.1; done
field() { grep -o "\"$1\":\"[^\"]*\"" "$WORK/dp.log" | head -1 | cut -d'"' -f4; }
HTTPS=$(field https); DTLS=$(field dtls); FINGERPRINT=$(field fingerprint)
HTTPS_PORT=${HTTPS##*:}

start_agent() { # domain log extra-args... ; sets STARTED_PID once the agent is connected
  local domain=$1 log=$2; shift 2
  ${AGENT_RUNNER:-} "$RELEASE/hopgate-agent" http "127.0.0.1:$NGINX_PORT" --domain "$domain" --key "$KEY" \
    --server "$DTLS" --server-name gw.hopgate.test --fingerprint "$FINGERPRINT" --debug "$@" \
    > "$log" 2>&1 & STARTED_PID=$!; PIDS+=($STARTED_PID)
  for _ in $(seq "$START_TRIES"); do grep -q '^connected' "$log" 2>/dev/null && break; sleep 0.1; done
  grep -q '^connected' "$log" || { echo "agent did not connect:" >&2; cat "$log" >&2; exit 1; }
}
start_agent "$DOMAIN" "$WORK/agent.log" --inspect off ${AGENT_ARGS[@]+"${AGENT_ARGS[@]}"}
AGENT_PID=$STARTED_PID
