# Sourced by bench/http.sh after bench/tunnel_setup.sh: nginx itself in the gateway's two
# places, as the bar the tunnel is measured against. `nginx_1hop_https` is one nginx
# terminating TLS and proxying to the local nginx (keep-alive upstream); `nginx_2hop_https`
# adds a second plain-HTTP nginx proxy between them, the shape of data-plane -> agent ->
# service without the tunnel. Each proxy has one worker, like the local service. TLS as
# nginx does it by default, with the pod's key type: an ECDSA P-256 certificate, TLS 1.2 and
# 1.3 (nginx's default since 1.23.4; Debian 12's nginx 1.22 would stop at 1.2), X25519
# first, session tickets with OpenSSL's keys made at start (`ssl_session_tickets on`) and
# no session cache (`ssl_session_cache none`). HTTP/2 and HTTP/1.1 offered by ALPN, as the pod
# offers them, so that a client picks the same protocol from both. Bodies of any size, streamed to the next
# hop as they arrive (`proxy_request_buffering off`), as the tunnel streams them. Sets
# NGINX_1HOP_PORT, NGINX_2HOP_PORT and NGINX_REFERENCE_NAME; the processes join PIDS (cleaned
# up on exit).
# NGINX_RUNNER (optional, split into words) goes before each reference nginx's command;
# NGINX_MAIN_CONF (optional) is added to each one's main context.
command -v openssl >/dev/null || { echo "$0 needs openssl (apt-get install openssl)" >&2; exit 2; }
# A leaf certificate a client can check ($WORK/reference-cert.pem as its root, for the name
# NGINX_REFERENCE_NAME).
NGINX_REFERENCE_NAME=reference.test
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=$NGINX_REFERENCE_NAME" -addext "subjectAltName=DNS:$NGINX_REFERENCE_NAME" \
  -addext basicConstraints=critical,CA:FALSE \
  -keyout "$WORK/reference-key.pem" -out "$WORK/reference-cert.pem" 2>/dev/null
NGINX_1HOP_PORT=$(free_port); NGINX_2HOP_PORT=$(free_port); NGINX_PLAIN_HOP_PORT=$(free_port)
reference_nginx() { # name server-block
  mkdir -p "$WORK/$1"
  cat > "$WORK/$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
${NGINX_MAIN_CONF:-}
pid $WORK/$1/nginx.pid;
error_log $WORK/$1/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/$1;
  proxy_temp_path $WORK/$1;
  fastcgi_temp_path $WORK/$1;
  uwsgi_temp_path $WORK/$1;
  scgi_temp_path $WORK/$1;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  client_max_body_size 0;
  proxy_request_buffering ${NGINX_REQUEST_BUFFERING:-off};
  $2
}
CONF
  ${NGINX_RUNNER:-} nginx -c "$WORK/$1/nginx.conf" -p "$WORK/$1" & PIDS+=($!)
}
tls_proxy() { # listen-port upstream-port
  echo "upstream next { server 127.0.0.1:$2; keepalive 256; }
  server { listen 127.0.0.1:$1 ssl http2; ssl_certificate $WORK/reference-cert.pem;
    ssl_certificate_key $WORK/reference-key.pem; ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://next; } }"
}
reference_nginx ref-1hop "$(tls_proxy "$NGINX_1HOP_PORT" "$NGINX_PORT")"
reference_nginx ref-2hop "$(tls_proxy "$NGINX_2HOP_PORT" "$NGINX_PLAIN_HOP_PORT")"
reference_nginx ref-plain-hop "upstream next { server 127.0.0.1:$NGINX_PORT; keepalive 256; }
  server { listen 127.0.0.1:$NGINX_PLAIN_HOP_PORT; location / { proxy_pass http://next; } }"
for port in "$NGINX_1HOP_PORT" "$NGINX_2HOP_PORT"; do
  for _ in $(seq "${START_TRIES:-50}"); do curl -sk -o /dev/null "https://127.0.0.1:$port/100b" && break; sleep 0.1; done
done
