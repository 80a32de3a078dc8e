#!/usr/bin/env bash
# Installs Schemathesis (the OpenAPI fuzzer that control-plane/tests/admin_openapi.rs runs
# against the admin API) with every dependency pinned (scripts/schemathesis-requirements.txt)
# into a virtualenv of its own, once, and prints the path of its `st` command.
#
# Usage: scripts/schemathesis.sh      (needs python3 with venv, and PyPI the first time)
# The venv lives in ${HOPGATE_TOOLS_DIR:-~/.cache/hopgate}/schemathesis-HASH/, HASH naming
# the requirements, so changing them installs afresh.
set -euo pipefail
cd "$(dirname "$0")"

REQUIREMENTS=$PWD/schemathesis-requirements.txt
HASH=$(sha256sum "$REQUIREMENTS" | cut -c1-16)
DIR="${HOPGATE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hopgate}/schemathesis-$HASH"
ST="$DIR/venv/bin/st"

mkdir -p "$DIR"
# One installer at a time; the marker is written only after a complete install.
exec 9>"$DIR/lock"
flock 9
if [ ! -f "$DIR/installed" ]; then
    echo "installing schemathesis into $DIR/venv" >&2
    rm -rf "$DIR/venv"
    python3 -m venv "$DIR/venv"
    "$DIR/venv/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS" >&2
    "$ST" --version >&2
    touch "$DIR/installed"
fi
echo "$ST"
