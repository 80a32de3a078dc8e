#!/usr/bin/env bash
# Checks deploy/ without a Docker engine: yamllint on every YAML file, every Kustomize
# overlay rendered with kubectl, then the test that checks the rendered manifests, the
# compose file and the Grafana dashboard (deploy/check, `hopgate-deploy-check`).
#
# Usage: scripts/check-deploy.sh [extra nextest args]
# Needs: yamllint (Debian: apt-get install yamllint), kubectl 1.27+ (Kustomize v5),
# cargo with cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "check-deploy: FAILED: $*" >&2
    exit 1
}

for tool in yamllint kubectl cargo; do
    if ! command -v "$tool" >/dev/null; then
        case $tool in
            yamllint) fail "yamllint is not installed (Debian: apt-get install -y yamllint)" ;;
            kubectl) fail "kubectl is not installed: a kubectl 1.27+ with Kustomize v5 is needed \
(Debian bookworm's kubernetes-client 1.20 is too old); see deploy/README.md, \"Checks\"" ;;
            *) fail "$tool is not installed" ;;
        esac
    fi
done

echo "== yamllint deploy/"
yamllint -c deploy/.yamllint deploy/ || fail "yamllint found problems in deploy/ (above)"

for overlay in deploy/kubernetes/overlays/*/; do
    overlay=${overlay%/}
    echo "== kubectl kustomize $overlay"
    out=$(kubectl kustomize "$overlay" 2>&1) || fail "kubectl kustomize $overlay: $out"
    echo "   $(grep -c '^kind:' <<<"$out") objects: $(grep '^kind:' <<<"$out" | sed 's/kind: //' | sort | uniq -c | xargs)"
done

echo "== cargo nextest run -p hopgate-deploy-check"
cargo nextest run --locked -p hopgate-deploy-check "$@" \
    || fail "the deploy/ checks failed (the first failing assertion above names the file and object)"
echo "check-deploy: OK"
