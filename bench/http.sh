#!/usr/bin/env bash
# HTTP benchmark: nginx (1 worker) as the local service, wrk as the load, all on
# loopback, in one run for `direct` (wrk -> nginx), `hopgate_https` (wrk -> data-plane
# over HTTPS -> DTLS -> agent -> nginx, the agent's inspector off), `hopgate_https_inspect`
# (the same through a second agent with its inspector on, capturing every exchange),
# `hopgate_https_tcp` (the first agent again with its session over TLS/TCP to the HTTPS
# port, `--transport tcp`) and, as the bar, nginx itself in the gateway's places
# (`nginx_1hop_https`, `nginx_2hop_https`: bench/nginx_reference.sh). Besides keep-alive
# loads and 100 MB downloads: `close_c16_rps` (wrk -c16 with `Connection: close`, a TCP
# connection and a TLS handshake per request) and `upload100_MBps` (curl -T of a 100 MB
# file that the service reads whole before it answers), both over HTTP/2 and, as `_h1`
# figures, over HTTP/1.1. One figure a line: `name value unit`.
# Needs: nginx, wrk, curl (Debian packages). Usage: bench/http.sh [seconds per load run]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
source bench/tunnel_setup.sh
source bench/nginx_reference.sh

CURL_TUNNEL=(curl -sS --fail --resolve "$DOMAIN:$HTTPS_PORT:127.0.0.1" --cacert "$WORK/dp/debug-cert.pem")
"${CURL_TUNNEL[@]}" -o /dev/null "https://$DOMAIN:$HTTPS_PORT/100b"

declare -A RPS
# wrk: requests/s and latency percentiles (ms).
load() { # system url connections extra-args...
  local system=$1 url=$2 c=$3; shift 3
  local out; out=$(wrk -t1 -c"$c" -d"${DURATION}s" --latency "$@" "$url")
  local rps; rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  echo "$system.c${c}_rps $rps rps"
  RPS["$system.c$c"]=$rps
  if [ "$c" != 16 ]; then
    local to_ms='function ms(v){ if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }'
    [ "$c" = 1 ] && echo "$system.c${c}_p50_ms $(awk "$to_ms"' /^ +50%/ {print ms($2)}' <<<"$out") ms"
    echo "$system.c${c}_p99_ms $(awk "$to_ms"' /^ +99%/ {print ms($2)}' <<<"$out") ms"
  fi
}
# wrk with `Connection: close`: every request on a new connection, so a TLS handshake each
# (wrk resumes its TLS session where the server allows it; both sides here do).
load_close() { # system url extra-args...
  local system=$1 url=$2; shift 2
  local out; out=$(wrk -t1 -c16 -d"${DURATION}s" -H 'Connection: close' "$@" "$url")
  echo "$system.close_c16_rps $(awk '/Requests\/sec/ {print $2}' <<<"$out") rps"
  local failed; failed=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
  echo "$system.close_c16_failed $failed requests"
}
# Over HTTPS both the pod and the reference offer HTTP/2 and HTTP/1.1 (ALPN): each transfer
# is measured with curl's choice (HTTP/2, as a browser's) and again over HTTP/1.1, so that
# both sides of a ratio speak the same protocol. `_h1` in a figure's name: HTTP/1.1.
bulk() { # figure curl-args... ; median MB/s of 3 downloads of 100 MB
  local figure=$1; shift
  local speeds=()
  for _ in 1 2 3; do speeds+=("$("$@" -o /dev/null -w '%{speed_download}')"); done
  printf '%s\n' "${speeds[@]}" | sort -n | sed -n 2p | awk -v f="$figure" '{printf "%s %.1f MB/s\n", f, $1/1e6}'
}
# Median MB/s of 3 uploads (PUT) of the 100 MB file to the service's /upload/, which writes
# the body to memory and answers only once it has all of it; each upload is checked there.
# `Expect:` is left out: curl would otherwise wait for a `100 Continue` first.
upload() { # figure url curl-args...
  local figure=$1 url=$2; shift 2
  local speeds=()
  for i in 1 2 3; do
    rm -f "$SINK/upload/$figure-$i"
    speeds+=("$("$@" -H 'Expect:' -T "$WORK/www/100mb" -o /dev/null -w '%{speed_upload}' "$url/upload/$figure-$i")")
    cmp -s "$WORK/www/100mb" "$SINK/upload/$figure-$i" || { echo "$figure: upload $i did not arrive whole" >&2; exit 1; }
    rm -f "$SINK/upload/$figure-$i"
  done
  printf '%s\n' "${speeds[@]}" | sort -n | sed -n 2p | awk -v f="$figure" '{printf "%s %.1f MB/s\n", f, $1/1e6}'
}

for c in 1 16 64; do load direct "http://127.0.0.1:$NGINX_PORT/100b" "$c"; done
for c in 1 16 64; do load hopgate_https "https://127.0.0.1:$HTTPS_PORT/100b" "$c" -H "Host: $DOMAIN"; done
start_agent "$INSPECT_DOMAIN" "$WORK/agent-inspect.log" --inspect on --inspect-addr 127.0.0.1:0
INSPECT_PID=$STARTED_PID
for c in 1 16 64; do
  load hopgate_https_inspect "https://127.0.0.1:$HTTPS_PORT/100b" "$c" -H "Host: $INSPECT_DOMAIN"
done
# The bar: nginx itself as the gateway's hops (bench/nginx_reference.sh).
load nginx_1hop_https "https://127.0.0.1:$NGINX_1HOP_PORT/100b" 64
for c in 1 16 64; do load nginx_2hop_https "https://127.0.0.1:$NGINX_2HOP_PORT/100b" "$c"; done
bulk direct.bulk100_MBps curl -sS --fail "http://127.0.0.1:$NGINX_PORT/100mb"
for http in 2 1.1; do
  suffix=$([ "$http" = 2 ] || echo _h1)
  bulk "hopgate_https.bulk100${suffix}_MBps" "${CURL_TUNNEL[@]}" --http"$http" "https://$DOMAIN:$HTTPS_PORT/100mb"
  bulk "nginx_2hop_https.bulk100${suffix}_MBps" curl -sSk --fail --http"$http" "https://127.0.0.1:$NGINX_2HOP_PORT/100mb"
done
load_close hopgate_https "https://127.0.0.1:$HTTPS_PORT/100b" -H "Host: $DOMAIN"
load_close nginx_1hop_https "https://127.0.0.1:$NGINX_1HOP_PORT/100b"
upload direct.upload100_MBps "http://127.0.0.1:$NGINX_PORT" curl -sS --fail
for http in 2 1.1; do
  suffix=$([ "$http" = 2 ] || echo _h1)
  upload "hopgate_https.upload100${suffix}_MBps" "https://$DOMAIN:$HTTPS_PORT" "${CURL_TUNNEL[@]}" --http"$http"
  upload "nginx_2hop_https.upload100${suffix}_MBps" "https://127.0.0.1:$NGINX_2HOP_PORT" curl -sSk --fail --http"$http"
done
echo "hopgate.dp_rss_MiB $(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$DP_PID/status) MiB"
echo "hopgate.agent_rss_MiB $(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$AGENT_PID/status) MiB"
# The inspector's cost: off and on alternated at c64, five runs each, so that the rest of
# the machine's load falls on both alike; the ratio of the medians.
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
OFF=(); ON=()
for _ in 1 2 3 4 5; do
  load hopgate_https_ab "https://127.0.0.1:$HTTPS_PORT/100b" 64 -H "Host: $DOMAIN" >/dev/null
  OFF+=("${RPS[hopgate_https_ab.c64]}")
  load hopgate_https_ab "https://127.0.0.1:$HTTPS_PORT/100b" 64 -H "Host: $INSPECT_DOMAIN" >/dev/null
  ON+=("${RPS[hopgate_https_ab.c64]}")
done
echo "hopgate_https.c64_alternated_rps $(median "${OFF[@]}") rps"
echo "hopgate_https_inspect.c64_alternated_rps $(median "${ON[@]}") rps"
awk -v on="$(median "${ON[@]}")" -v off="$(median "${OFF[@]}")" \
  'BEGIN {printf "hopgate_https_inspect.c64_vs_off %.3f ratio\n", on/off}'
echo "hopgate_inspect.agent_rss_MiB $(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$INSPECT_PID/status) MiB"
# The same with the agent's session over TLS/TCP to the HTTPS port (the UDP fallback).
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true
start_agent "$DOMAIN" "$WORK/agent.log" --inspect off --transport tcp --tcp-server "$HTTPS"
AGENT_PID=$STARTED_PID
for c in 1 16 64; do load hopgate_https_tcp "https://127.0.0.1:$HTTPS_PORT/100b" "$c" -H "Host: $DOMAIN"; done
bulk hopgate_https_tcp.bulk100_MBps "${CURL_TUNNEL[@]}" --http2 "https://$DOMAIN:$HTTPS_PORT/100mb"
echo "hopgate_tcp.agent_rss_MiB $(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$AGENT_PID/status) MiB"
