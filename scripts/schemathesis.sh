#!/usr/bin/env bash
# Installs Schemathesis (the OpenAPI fuzzer that control-plane/tests/admin_openapi.rs runs
# against the admin API) with every dependency pinned (scripts/schemathesis-requirements.txt)
# into a cached virtualenv of its own (scripts/lib/python_venv.sh), once, and prints the
# path of its `st` command.
#
# Usage: scripts/schemathesis.sh      (needs python3 with venv, and PyPI the first time)
set -euo pipefail
source "$(dirname "$0")/lib/python_venv.sh"
venv_tool schemathesis schemathesis-requirements.txt bin/st --version
