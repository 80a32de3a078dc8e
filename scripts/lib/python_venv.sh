# Sourced by the scripts that install a pinned Python tool for the tests (grpcio.sh,
# schemathesis.sh). `venv_tool NAME REQUIREMENTS TOOL CHECK-ARGS...` installs REQUIREMENTS
# (a file beside the calling script) into a virtualenv of its own, once, checks the install
# by running `TOOL CHECK-ARGS...`, and prints TOOL's path (TOOL is relative to the venv,
# e.g. bin/python).
# The venv lives in ${HOPGATE_TOOLS_DIR:-~/.cache/hopgate}/NAME-HASH/, HASH naming the
# requirements, so changing them installs afresh. Needs python3 with venv, and PyPI the
# first time.
venv_tool() {
    local name=$1 requirements=$2 tool=$3
    shift 3
    requirements=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)/$requirements
    local hash dir
    hash=$(sha256sum "$requirements" | cut -c1-16)
    dir="${HOPGATE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hopgate}/$name-$hash"
    mkdir -p "$dir"
    # One installer at a time; the marker is written only after a complete install.
    exec 9>"$dir/lock"
    flock 9
    if [ ! -f "$dir/installed" ]; then
        echo "installing $name into $dir/venv" >&2
        rm -rf "$dir/venv"
        python3 -m venv "$dir/venv"
        "$dir/venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
        "$dir/venv/$tool" "$@" >&2
        touch "$dir/installed"
    fi
    echo "$dir/venv/$tool"
}
