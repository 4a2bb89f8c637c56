#!/usr/bin/env bash
# `make test-kube`: the labs under nbval with LABKIT_BACKEND=kube, i.e. through the kube backend (KubeLab and
# the kubernetes client) against the local mesh's Kubernetes API, as a learner's notebook runs on a cluster.
#
# A mesh is started with `labkit up` in its own state directory; its kubeconfig is the learner's KUBECONFIG.
# The ingress gateway is reached as on a cluster without a load balancer: through the URLs a learner sets after a
# `kubectl port-forward` (LABKIT_GATEWAY_URL / LABKIT_SECURE_GATEWAY_URL), here the mesh's own gateway ports.
# Usage: scripts/test-kube.sh [NOTEBOOK ...]  (default: the labs known to pass, see KUBE_LABS below)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY="$ROOT/.venv/bin/python"

# Every lab (00-17) passes through the kube backend here: the local API serves what the labs read on a cluster
# (istiod's Deployment, pod and log, the node NodePorts answer on, the sidecar-injector webhook; issue 15).
KUBE_LABS=(labs/[0-9][0-9]-*.ipynb)
if [ "$#" -gt 0 ]; then KUBE_LABS=("$@"); fi

STATE=$(mktemp -d "${TMPDIR:-/tmp}/labkit-kube-test.XXXXXX")
"$PY" -m labkit.cli up --state-dir "$STATE" >"$STATE.up.log" 2>&1 &
UP_PID=$!
cleanup() {
    "$PY" -m labkit.cli down --state-dir "$STATE" --quiet >/dev/null 2>&1 || true
    if kill -0 "$UP_PID" 2>/dev/null; then kill "$UP_PID" 2>/dev/null || true; fi
    wait "$UP_PID" 2>/dev/null || true
    rm -rf "$STATE" "$STATE.up.log"
}
trap cleanup EXIT

for _ in $(seq 120); do
    if [ -s "$STATE/kubeconfig" ] && [ -s "$STATE/settings.json" ]; then break; fi
    if ! kill -0 "$UP_PID" 2>/dev/null; then cat "$STATE.up.log" >&2; echo "labkit up failed" >&2; exit 1; fi
    sleep 1
done
[ -s "$STATE/kubeconfig" ] || { cat "$STATE.up.log" >&2; echo "labkit up did not write a kubeconfig" >&2; exit 1; }

read -r GW_IP HTTP_PORT HTTPS_PORT < <("$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]))
print(s["gateway_ip"], s["gateway_http_port"], s["gateway_https_port"])' "$STATE/settings.json")

export LABKIT_BACKEND=kube
export KUBECONFIG="$STATE/kubeconfig" KUBECACHEDIR="$STATE/kube-cache"
export LABKIT_GATEWAY_URL="http://$GW_IP:$HTTP_PORT" LABKIT_SECURE_GATEWAY_URL="https://$GW_IP:$HTTPS_PORT"
# Gateway API gateways get a load balancer address (their pod IP) from the local API; it cannot bind ports below
# 1024, so those answer 20000 higher there (model/addressing.py real_port).
export LABKIT_LB_LOW_PORT_OFFSET=20000
export PATH="$ROOT/.venv/bin:$PATH"   # the venv's kubectl (the one the labs pin), as `make lab` does
unset LABKIT_NAMESPACE_PREFIX LABKIT_STATE_DIR

started=$(date +%s)
status=0
"$PY" -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider --junitxml="$STATE/junit.xml" \
    "${KUBE_LABS[@]}" ${PYTEST_ARGS:-} || status=$?
echo "test-kube: ${#KUBE_LABS[@]} notebooks in $(( $(date +%s) - started ))s"
# Seconds per notebook (the cells' own time), to see what each lab adds to `make test`'s budget.
"$PY" - "$STATE/junit.xml" <<'PYEOF' || true
import collections, re, sys, xml.etree.ElementTree as ET
per = collections.Counter()
for case in ET.parse(sys.argv[1]).iter("testcase"):
    where = re.search(r"\d\d-[a-z0-9-]+", case.get("file") or case.get("classname") or "")
    per[where.group(0) if where else "?"] += float(case.get("time") or 0)
print("test-kube seconds per notebook: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(per.items())))
PYEOF
exit "$status"
