#!/usr/bin/env bash
# Starts a private Pebble (Let's Encrypt's test ACME server) on free loopback ports, with
# pebble-challtestsrv as its DNS server resolving every name to 127.0.0.1, so HTTP-01
# validation of any domain reaches 127.0.0.1:HTTP_PORT (where a data-plane pod, or a test
# responder, answers /.well-known/acme-challenge/TOKEN from the pushed table).
#
#   scripts/pebble.sh HTTP_PORT [WORKDIR] [TLS_PORT]
#
# Needs only Debian's `pebble` package (binaries `pebble`, `pebble-challtestsrv`), plus
# openssl, curl and python3 (to find free ports). Pebble's deliberate 5% badNonce
# rejection stays on (PEBBLE_WFE_NONCEREJECT is unset) and validation is real;
# PEBBLE_VA_NOSLEEP=1 only skips its random validation delay.
#
# Prints (and writes to WORKDIR/pebble.env), then exits leaving both servers running:
#   PEBBLE_DIR=https://127.0.0.1:PORT/dir   the ACME directory (HOP_ACME_DIR)
#   PEBBLE_CA=WORKDIR/ca.pem                 trusts Pebble's HTTPS (HOP_ACME_CA_ROOT)
#   PEBBLE_ROOT=WORKDIR/root.pem             the root that issued certificates chain to
#   PEBBLE_PIDS="PID PID"                    stop with: kill $PEBBLE_PIDS
# and PEBBLE_HTTP_PORT, PEBBLE_TLS_PORT, PEBBLE_MANAGEMENT, PEBBLE_DNS, PEBBLE_WORKDIR.
set -euo pipefail

usage() { echo "usage: $0 HTTP_PORT [WORKDIR] [TLS_PORT]" >&2; exit 2; }
[[ $# -ge 1 && $1 =~ ^[0-9]+$ ]] || usage
http_port=$1
workdir=${2:-$(mktemp -d "${TMPDIR:-/tmp}/hopgate-pebble.XXXXXX")}
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)

for tool in pebble pebble-challtestsrv openssl curl python3; do
  command -v "$tool" >/dev/null || {
    echo "$0: '$tool' is missing (Debian: apt-get install -y pebble openssl curl python3)" >&2
    exit 1
  }
done

# Free loopback ports (TCP and, for DNS, UDP too), chosen by the kernel.
read -r listen_port mgmt_port dns_port default_tls <<<"$(python3 - <<'PY'
import socket
held, ports = [], []
while len(ports) < 4:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close(); continue
    held += [t, u]; ports.append(port)
print(*ports)
PY
)"
tls_port=${3:-$default_tls}

# Pebble's own HTTPS certificate: a throw-away CA and a leaf for 127.0.0.1/localhost.
(
  cd "$workdir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=HopGate test Pebble CA" -keyout ca-key.pem -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=localhost" -keyout key.pem -out cert.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >leaf.ext
  openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 \
    -extfile leaf.ext -out cert.pem 2>/dev/null
)

cat >"$workdir/pebble-config.json" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:$listen_port",
    "managementListenAddress": "127.0.0.1:$mgmt_port",
    "certificate": "$workdir/cert.pem",
    "privateKey": "$workdir/key.pem",
    "httpPort": $http_port,
    "tlsPort": $tls_port,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
JSON

# Every name resolves to 127.0.0.1; its own challenge servers are off (ports stay free;
# this version has no DoH server).
setsid pebble-challtestsrv -dns01 "127.0.0.1:$dns_port" -http01 "" -https01 "" \
  -tlsalpn01 "" -management "127.0.0.1:0" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
  >"$workdir/challtestsrv.log" 2>&1 </dev/null &
dns_pid=$!
PEBBLE_VA_NOSLEEP=1 setsid pebble -config "$workdir/pebble-config.json" \
  -dnsserver "127.0.0.1:$dns_port" >"$workdir/pebble.log" 2>&1 </dev/null &
pebble_pid=$!

fail() {
  echo "$0: $1; logs in $workdir" >&2
  kill "$dns_pid" "$pebble_pid" 2>/dev/null || true
  exit 1
}
for _ in $(seq 1 100); do
  curl -fsS --cacert "$workdir/ca.pem" "https://127.0.0.1:$listen_port/dir" >/dev/null 2>&1 && break
  kill -0 "$pebble_pid" 2>/dev/null || fail "pebble exited"
  sleep 0.1
done
curl -fsS --cacert "$workdir/ca.pem" "https://127.0.0.1:$listen_port/dir" >/dev/null 2>&1 ||
  fail "pebble's directory did not answer"
kill -0 "$dns_pid" 2>/dev/null || fail "pebble-challtestsrv exited"
# Pebble makes a new root at every start: fetch this one.
curl -fsS --cacert "$workdir/ca.pem" "https://127.0.0.1:$mgmt_port/roots/0" \
  -o "$workdir/root.pem" || fail "cannot fetch pebble's root"

cat <<ENV | tee "$workdir/pebble.env"
PEBBLE_DIR=https://127.0.0.1:$listen_port/dir
PEBBLE_CA=$workdir/ca.pem
PEBBLE_ROOT=$workdir/root.pem
PEBBLE_PIDS="$dns_pid $pebble_pid"
PEBBLE_HTTP_PORT=$http_port
PEBBLE_TLS_PORT=$tls_port
PEBBLE_MANAGEMENT=https://127.0.0.1:$mgmt_port
PEBBLE_DNS=127.0.0.1:$dns_port
PEBBLE_WORKDIR=$workdir
ENV
