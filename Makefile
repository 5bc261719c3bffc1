# The two set-up commands: `make demo` and `make test`. Both install what is missing
# (Debian packages as root, Python packages into .venv) and are safe to repeat.
# `make appium` (a part of `make test`) installs Appium 3 with its chromium and fake
# drivers, pinned in patrol/appium_server.py, into the project's own .appium/.
# `make real-apps` (a part of `make test`) installs two real open-source web apps the
# suite patrols (tests/test_real_apps.py): JupyterLab from PyPI into its own venv and
# Node-RED from npm, both pinned, into .realapps/ (gitignored).
# `make test` is lint (ruff), types (mypy, strict on patrol/), the package layers
# (lint-imports, the contracts in pyproject.toml), the docs site (mkdocs build --strict), then the suite on
# PYTEST_WORKERS processes (pytest-xdist; 0 runs it in this process).
# `make check` is the inner loop: the same lint, types and import contracts, then only the
# tests that need no browser, server or real app (tests/conftest.py marks the others e2e).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEB_PACKAGES := chromium chromium-driver tesseract-ocr tesseract-ocr-chi-sim fonts-noto-cjk xvfb gcc libc6-dev postgresql redis-server prometheus-alertmanager
STAMP := $(VENV)/.installed

APPIUM_HOME ?= $(CURDIR)/.appium
# Two workers fill a 2-core machine: every test owns its ports, folders and state
# database, and each worker starts its own demo bank.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
REALAPPS := .realapps
JUPYTERLAB_VERSION := 4.6.6
NODE_RED_VERSION := 4.1.15

.PHONY: demo test check lint docs setup system-packages python-packages node appium real-apps clean

demo: setup
	DEMO_PASSWORD=$${DEMO_PASSWORD:-patrol-demo-2026} $(PY) -m patrol demo patrol

test: lint docs appium real-apps
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

check: lint
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup -m "not e2e" $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check patrol tests benchmarks docs
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# The documentation site (mkdocs.yml, docs/) into site/: --strict fails on a broken link
# or anchor. Never -q: quiet mode silences the warnings that --strict counts.
docs: python-packages
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -d site

setup: system-packages python-packages

system-packages:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

python-packages: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

# Node.js and npm from Debian when missing.
node:
	@missing=""; command -v node >/dev/null 2>&1 || missing="nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

# Appium itself from npm, skipped when the pinned versions are already installed.
appium: python-packages node
	@APPIUM_HOME=$(APPIUM_HOME) $(PY) -m patrol.appium_server install

# The real apps, each behind a stamp named after its pinned version: a second run does
# nothing, a version bump reinstalls. JupyterLab gets a venv of its own so its many
# dependencies never meet Patrol's; Node-RED needs Node >= 18 (Debian 12 ships 18).
real-apps: $(REALAPPS)/jupyter/.jupyterlab-$(JUPYTERLAB_VERSION) $(REALAPPS)/node-red/.node-red-$(NODE_RED_VERSION)

$(REALAPPS)/jupyter/.jupyterlab-$(JUPYTERLAB_VERSION):
	@test -x $(REALAPPS)/jupyter/bin/python || $(PYTHON) -m venv $(REALAPPS)/jupyter
	$(REALAPPS)/jupyter/bin/pip install -q 'jupyterlab==$(JUPYTERLAB_VERSION)'
	@rm -f $(REALAPPS)/jupyter/.jupyterlab-* && touch $@

$(REALAPPS)/node-red/.node-red-$(NODE_RED_VERSION): | node
	@mkdir -p $(REALAPPS)/node-red
	cd $(REALAPPS)/node-red && npm install --no-audit --no-fund --loglevel=error 'node-red@$(NODE_RED_VERSION)'
	@rm -f $(REALAPPS)/node-red/.node-red-* && touch $@

clean:
	rm -rf $(VENV) .pytest_cache $(REALAPPS)
