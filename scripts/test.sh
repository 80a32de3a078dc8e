#!/usr/bin/env bash
# The whole test suite: every crate's unit and integration tests (real UDP sockets on
# 127.0.0.1, port 0, real processes), built once and run in parallel by cargo-nextest,
# then the doctests (which nextest doesn't run).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo nextest run --workspace --locked --no-fail-fast "$@"
cargo test --workspace --locked --doc -q
