# Two commands for a newcomer: `make lab` (JupyterLab on the local mesh) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
LAB_PORT ?= 8888
PYTEST_ARGS ?=
# `make test`: pytest-xdist workers (0: one process) and whether `make test-kube` runs beside pytest (docs/testing.md).
PYTEST_WORKERS ?= 2
KUBE_BESIDE ?= 1

.PHONY: help lab lab-instructor lint test test-kube test-browser browser learner bench clean install

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

JUPYTER_SETTINGS = jupyter-config/lab/settings/overrides.d/labkit.json5
JUPYTER_SERVER_CONFIG = jupyter-config/jupyter_server_config.d/labkit.json

$(STAMP): pyproject.toml $(JUPYTER_SETTINGS) $(JUPYTER_SERVER_CONFIG)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null
	@echo "Installing labkit and its dependencies into $(VENV) ..."
	@$(PY) -m pip install -q -e '.[dev]'
	@$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (labkit)" >/dev/null
	@# Editable installs skip pyproject's data-files: put JupyterLab's labkit defaults in place here.
	@install -D -m 644 $(JUPYTER_SETTINGS) $(VENV)/share/jupyter/lab/settings/overrides.d/labkit.json5
	@# The server's pre-save hook: outputs are not saved into the tracked labs/NN-*.ipynb (labkit/notebook_outputs.py).
	@install -D -m 644 $(JUPYTER_SERVER_CONFIG) $(VENV)/etc/jupyter/jupyter_server_config.d/labkit.json
	@$(PY) -m labkit.cli doctor --quiet || echo "labkit doctor found problems (above); the labs may not start"
	@touch $(STAMP)

install: $(STAMP) ## Create the venv and install everything (idempotent)

# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ALLOW_ROOT = $(if $(filter 0,$(shell id -u)),--allow-root,)

# The local mesh's Kubernetes API: the kubeconfig its owner (the notebook kernel) writes in labs/.labkit.
LOCAL_KUBECONFIG = $(if $(filter kube kubernetes k8s,$(LABKIT_BACKEND)),,KUBECONFIG="$(CURDIR)/labs/.labkit/kubeconfig" \
	KUBECACHEDIR="$(CURDIR)/labs/.labkit/kube-cache")

# The kernels of the learner copies (labs/learner/) share the mesh of labs/.labkit with the terminals.
LAB_STATE = LABKIT_STATE_DIR="$${LABKIT_STATE_DIR:-$(CURDIR)/labs/.labkit}"
JUPYTER_LAB = -m jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) --no-browser $(ALLOW_ROOT)

lab: $(STAMP) ## Start JupyterLab on your learner copies of the labs (labs/learner/: exercises with a Show solution button; your edits are kept)
	@# Terminals beside the notebooks reach the lab's mesh with the venv's kubectl, never ~/.kube/config
	@# (on the kube backend, LABKIT_BACKEND=kube, kubectl keeps the cluster's kubeconfig).
	@# Copies you changed are never overwritten (labkit/learner_copies.py); new or untouched ones are refreshed.
	$(PY) -m labkit.cli release --source labs --out labs/learner
	cd labs/learner && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(LOCAL_KUBECONFIG) $(LAB_STATE) \
		$(abspath $(PY)) $(JUPYTER_LAB)

lab-instructor: $(STAMP) ## Start JupyterLab on the full notebooks in labs/ (solutions in place; what CI runs)
	cd labs && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(LOCAL_KUBECONFIG) \
		$(abspath $(PY)) $(JUPYTER_LAB)

browser: ## Install Debian's Chromium for the browser test (needs root or passwordless sudo)
	@bash scripts/install-browser.sh

lint: $(STAMP) ## ruff and mypy over labkit/ (rules in pyproject.toml); must report nothing
	$(VENV)/bin/ruff check labkit
	$(VENV)/bin/mypy

test: $(STAMP) lint ## Run `make lint`, then the whole test suite (unit, local mesh, notebooks, labs in headless Chromium) in 2 workers with `make test-kube` beside it (docs/testing.md)
	@bash scripts/install-browser.sh --quiet || echo "make test: tests/test_browser.py will be skipped (no Chromium, see above)"
	PYTEST_ARGS="$(PYTEST_ARGS)" PYTEST_WORKERS="$(PYTEST_WORKERS)" KUBE_BESIDE="$(KUBE_BESIDE)" bash scripts/test-suite.sh

test-kube: $(STAMP) ## The labs under nbval through the kube backend (LABKIT_BACKEND=kube) against the local mesh's Kubernetes API
	bash scripts/test-kube.sh

test-browser: $(STAMP) ## Only the real-browser test; screenshots and console logs in artifacts/browser/
	@bash scripts/install-browser.sh
	LABKIT_REQUIRE_BROWSER=1 $(PY) -m pytest tests/test_browser.py -p no:cacheprovider $(PYTEST_ARGS)

learner: $(STAMP) ## Write or refresh the learner copies in labs/learner/ without starting JupyterLab (make lab does it too)
	$(PY) -m labkit.cli release --source labs --out labs/learner

bench: $(STAMP) ## Run the benchmarks (prints numbers, writes bench/results/)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean: ## Remove the venv and any lab state
	-@test -x $(PY) && $(PY) -m labkit.cli down --quiet 2>/dev/null; true
	rm -rf $(VENV) .labkit labs/.labkit labs/learner artifacts *.egg-info .pytest_cache
