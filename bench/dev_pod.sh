# Sourced by bench/sessions.sh and bench/storm.sh. `start_dev_pod N [DOMAIN...]` writes a
# config with the DOMAINs given and N development domains s0 … s(N-1) under SUFFIX (the
# gateway's wildcard certificate covers them), all with KEY, in a file (the list is too long
# for one environment variable); starts the release data-plane from RELEASE in debug mode on
# loopback ports the kernel picks, with its state in WORK; waits until it listens; sets
# DP_PID. `field NAME` reads a field of its `listening` log line (https, dtls, fingerprint).
# `open_files_for_sessions N` raises the open-file limit for N dialling sessions.

# One UDP socket per session on the dialling side, and some room.
open_files_for_sessions() {
  local need=$(($1 + 512))
  if [ "$(ulimit -n)" -lt "$need" ]; then
    [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ] && {
      echo "N=$1 needs $need open files; the hard limit is $(ulimit -Hn)" >&2; exit 2; }
    ulimit -n "$need"
  fi
}
start_dev_pod() {
  local count=$1; shift
  {
    echo "dev_domains = ["
    for domain in "$@"; do echo "  \"$domain=$KEY\","; done
    for i in $(seq 0 $((count - 1))); do echo "  \"s$i.$SUFFIX=$KEY\","; done
    echo "]"
  } > "$WORK/pod.toml"
  # Every session dials from 127.0.0.1: the per-IP handshake cap is raised to let a storm in.
  HOP_SERVER_DTLS_HANDSHAKES_PER_IP=4096 \
  HOP_SERVER_DOMAIN=$SUFFIX HOP_SERVER_DEBUG=true \
  HOP_SERVER_HTTP_LISTEN=127.0.0.1:0 HOP_SERVER_HTTPS_LISTEN=127.0.0.1:0 \
  HOP_SERVER_DTLS_LISTEN=127.0.0.1:0 HOP_METRICS_LISTEN=127.0.0.1:0 \
  HOP_SERVER_STATE_DIR="$WORK/dp" \
    "$RELEASE/hopgate-data-plane" --config "$WORK/pod.toml" > "$WORK/dp.log" 2>&1 & DP_PID=$!
  for _ in $(seq 300); do grep -q '"msg":"listening"' "$WORK/dp.log" 2>/dev/null && break; sleep 0.1; done
  grep -q '"msg":"listening"' "$WORK/dp.log" || { echo "data-plane did not start:" >&2; cat "$WORK/dp.log" >&2; exit 1; }
}
field() { grep -o "\"$1\":\"[^\"]*\"" "$WORK/dp.log" | head -1 | cut -d'"' -f4; }
