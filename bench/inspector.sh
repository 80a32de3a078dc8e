#!/usr/bin/env bash
# The agent's request inspector, memory: the agent's RSS idle (connected, inspector on,
# one request captured) and after 100k GETs through it of a 64 KiB answer (longer than the
# 16 KiB body prefix kept), with the exchange count unbounded so that the byte budget is what
# bounds the capture. The bar: rss_after_100k <= 2 x rss_idle + capture_budget. One figure a
# line: `name value unit`. (Uploads take the same prefix code; nginx answers a POST to a
# static file before reading its body, which the agent then drains for up to a second, so
# they would measure that wait instead.)
# Needs: nginx, wrk, curl (Debian packages). Usage: bench/inspector.sh [requests]
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-100000}
BUDGET=$((8 * 1024 * 1024))
source bench/tunnel_setup.sh
head -c 65536 /dev/zero | tr '\0' 'y' > "$WORK/www/64k"

start_agent "$INSPECT_DOMAIN" "$WORK/agent-inspect.log" --inspect on \
  --inspect-addr 127.0.0.1:0 --inspect-max-exchanges 100000 --inspect-budget-bytes "$BUDGET"
PID=$STARTED_PID
INSPECT=$(grep -o '^inspector: http://[0-9.:]*' "$WORK/agent-inspect.log" | head -1 | sed 's/^inspector: //')
URL="https://127.0.0.1:$HTTPS_PORT"
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
curl -sSk -o /dev/null -H "Host: $INSPECT_DOMAIN" "$URL/100b"
curl -sS -o /dev/null "$INSPECT/api/exchanges"
IDLE=$(rss)

cat > "$WORK/count.lua" <<LUA
local done = 0
response = function()
  done = done + 1
  if done >= $REQUESTS then wrk.thread:stop() end
end
LUA
wrk -t1 -c16 -d600s -s "$WORK/count.lua" -H "Host: $INSPECT_DOMAIN" "$URL/64k" > /dev/null
AFTER=$(rss)
KEPT=$(curl -sS "$INSPECT/api/exchanges" | grep -o '"id":' | wc -l)

echo "inspector.rss_idle_KiB $IDLE KiB"
echo "inspector.rss_after_100k_KiB $AFTER KiB"
echo "inspector.capture_budget_KiB $((BUDGET / 1024)) KiB"
echo "inspector.rss_bar_KiB $((2 * IDLE + BUDGET / 1024)) KiB"
echo "inspector.rss_peak_KiB $(awk '/VmHWM/ {print $2}' "/proc/$PID/status") KiB"
echo "inspector.exchanges_kept $KEPT exchanges"
echo "inspector.captured $(curl -sS "$INSPECT/api/exchanges" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2) exchanges"
