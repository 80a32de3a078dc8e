#!/usr/bin/env bash
# Installs Python's gRPC (grpcio, pinned in scripts/grpcio-requirements.txt), which
# e2e/tests/grpc.rs runs as a real gRPC service and client, into a virtualenv of its own,
# once, and prints the path of that virtualenv's python.
#
# Usage: scripts/grpcio.sh      (needs python3 with venv, and PyPI the first time)
# The venv lives in ${HOPGATE_TOOLS_DIR:-~/.cache/hopgate}/grpcio-HASH/, HASH naming the
# requirements, so changing them installs afresh.
set -euo pipefail
cd "$(dirname "$0")"

REQUIREMENTS=$PWD/grpcio-requirements.txt
HASH=$(sha256sum "$REQUIREMENTS" | cut -c1-16)
DIR="${HOPGATE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hopgate}/grpcio-$HASH"
PYTHON="$DIR/venv/bin/python"

mkdir -p "$DIR"
# One installer at a time; the marker is written only after a complete install.
exec 9>"$DIR/lock"
flock 9
if [ ! -f "$DIR/installed" ]; then
    echo "installing grpcio into $DIR/venv" >&2
    rm -rf "$DIR/venv"
    python3 -m venv "$DIR/venv"
    "$DIR/venv/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS" >&2
    "$PYTHON" -c "import grpc; print('grpcio', grpc.__version__)" >&2
    touch "$DIR/installed"
fi
echo "$PYTHON"
