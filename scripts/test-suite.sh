#!/usr/bin/env bash
# `make test` after `make lint`: the whole pytest run (tests/ and the notebooks in labs/) and `make test-kube`.
#
# Most of the suite waits (Envoy start-up, kernels, curl), so it runs in PYTEST_WORKERS pytest-xdist workers
# (default 2; 0 = one process, as before) and scripts/test-kube.sh runs beside it (its mesh and state are its
# own). The root conftest.py gives each worker its own mesh state and gateway ports and keeps all notebooks in
# one worker, in order. test-kube's output is kept in a file and printed after pytest's, so neither
# interleaves; the exit status fails if either failed. KUBE_BESIDE=0 runs test-kube after pytest instead.
# Timings and how to choose: docs/testing.md.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORKERS=${PYTEST_WORKERS:-2}
BESIDE=${KUBE_BESIDE:-1}

xdist=()
if [ "$WORKERS" != "0" ]; then xdist=(-n "$WORKERS"); fi

kube_pid=""
kube_log=$(mktemp "${TMPDIR:-/tmp}/labkit-test-kube.XXXXXX.log")
stop_kube() {
    # test-kube.sh leads its own process group (setsid): TERM reaches its pytest and kernels, and its own
    # EXIT trap stops its mesh.
    if [ -n "$kube_pid" ] && kill -0 "$kube_pid" 2>/dev/null; then
        kill -TERM -- "-$kube_pid" 2>/dev/null || true
        wait "$kube_pid" 2>/dev/null || true
    fi
    rm -f "$kube_log"
}
trap stop_kube EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
if [ "$BESIDE" = "1" ]; then
    echo "make test: scripts/test-kube.sh runs beside pytest; its output follows pytest's"
    # At a lower CPU priority: the browser tests and the notebooks in the pytest workers wait for it least.
    setsid nice -n 10 bash scripts/test-kube.sh >"$kube_log" 2>&1 </dev/null &
    kube_pid=$!
fi

# shellcheck disable=SC2086  # PYTEST_ARGS is a list of words, as in the Makefile
"$PY" -m pytest tests labs --nbval-lax --nbval-current-env --ignore=labs/learner -p no:cacheprovider \
    "${xdist[@]}" ${PYTEST_ARGS:-}
pytest_status=$?
echo "make test: pytest finished ($pytest_status) after $(( $(date +%s) - started ))s"

if [ "$BESIDE" = "1" ]; then
    wait "$kube_pid"
    kube_status=$?
    kube_pid=""
    echo "===================== scripts/test-kube.sh (ran beside pytest) ====================="
    cat "$kube_log"
else
    bash scripts/test-kube.sh
    kube_status=$?
fi
echo "make test: pytest $pytest_status, test-kube $kube_status, $(( $(date +%s) - started ))s in all"
if [ "$pytest_status" -ne 0 ]; then exit "$pytest_status"; fi
exit "$kube_status"
