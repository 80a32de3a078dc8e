#!/usr/bin/env bash
# Installs Python's gRPC (grpcio, pinned in scripts/grpcio-requirements.txt), which
# e2e/tests/grpc.rs runs as a real gRPC service and client, into a cached virtualenv of
# its own (scripts/lib/python_venv.sh), once, and prints the path of that venv's python.
#
# Usage: scripts/grpcio.sh      (needs python3 with venv, and PyPI the first time)
set -euo pipefail
source "$(dirname "$0")/lib/python_venv.sh"
venv_tool grpcio grpcio-requirements.txt bin/python \
    -c "import grpc; print('grpcio', grpc.__version__)"
