#!/usr/bin/env bash
# The whole test suite: every crate's unit and integration tests (real UDP sockets on
# 127.0.0.1, port 0, real processes), built once and run in parallel by cargo-nextest,
# then the doctests (which nextest doesn't run).
set -euo pipefail
cd "$(dirname "$0")/.."

# The control-plane's tests use a real Postgres at 127.0.0.1:5432 (trust auth, database
# `test`; each test creates and drops its own database). Start the local one if it's down.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "Postgres is not answering on 127.0.0.1:5432; trying to start it" >&2
  service postgresql start >/dev/null 2>&1 || pg_ctlcluster --skip-systemctl-redirect 15 main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432 || { echo "no Postgres on 127.0.0.1:5432" >&2; exit 1; }
fi
cargo nextest run --workspace --locked --no-fail-fast "$@"
cargo test --workspace --locked --doc -q
