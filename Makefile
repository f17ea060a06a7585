# Euterpe: `make run` serves http://127.0.0.1:8000, `make test` runs the suite.
# Both create .venv and install the pinned requirements themselves.

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

# A Python >= 3.12: python3.13, python3.12, python3, then pyenv's versions folder
# (for machines where pyenv's shims are not on PATH).
FIND_PYTHON = for candidate in python3.13 python3.12 python3 \
	  $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 \
	  /usr/local/bin/python3.13 /opt/homebrew/bin/python3.13; do \
	  if command -v $$candidate >/dev/null 2>&1 && \
	     $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	    echo $$candidate; break; fi; done

.PHONY: run test lint format e2e audit bench loadtest clean

$(STAMP): requirements.txt requirements-dev.txt
	@python=$$($(FIND_PYTHON)); \
	if [ -z "$$python" ]; then \
	  echo "Euterpe needs Python 3.12 or newer (3.13 recommended) and found none." >&2; \
	  echo "Install it, e.g. 'pyenv install 3.13', 'apt install python3.13-venv' or 'brew install python@3.13', then run make again." >&2; \
	  exit 1; fi; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	  echo "Creating $(VENV) with $$python"; rm -rf $(VENV); $$python -m venv $(VENV) || exit 1; fi
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*; touch $@

run: $(STAMP)
	$(PY) -m devtools.run

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	# --cov: branch coverage of the run, configured in pyproject.toml.
	$(PY) -m devtools.localdb run -- $(PY) -m pytest -m "not e2e" --cov
	# Smoke test through a private throwaway PostgreSQL, so that path cannot rot.
	EUTERPE_PRIVATE_POSTGRES=1 $(PY) -m devtools.localdb run -- $(PY) -m pytest -m smoke -p no:cacheprovider

# The browser tools pinned in package-lock.json (axe-core, Lighthouse), installed
# by `npm ci` when node_modules is missing or older than the lock.
NODE_STAMP := node_modules/.package-lock.json
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "The browser checks need Node.js 20 and npm (e.g. 'apt-get install nodejs npm')." >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Browser journeys in Debian's Chromium (installed here when run as root), with
# axe-core checking every page they visit.
CHROMIUM := /usr/bin/chromium
e2e: $(STAMP) $(NODE_STAMP) chromium
	$(PY) -m devtools.localdb run -- $(PY) -m pytest -m e2e e2e/ -p no:cacheprovider

.PHONY: chromium
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium || exit 1; \
	  else \
	    echo "The browser tests need Chromium at $(CHROMIUM)." >&2; \
	    echo "Install it with 'sudo apt-get install chromium' (Debian) or 'sudo apt-get install chromium-browser' (Ubuntu), then run make e2e again." >&2; \
	    exit 1; fi; fi

# Lighthouse (pinned in package-lock.json) on the login, privacy and two dashboards,
# mobile and desktop, median of three runs; writes docs/audit.md, fails under 100.
audit: $(STAMP) $(NODE_STAMP) chromium
	$(PY) -m devtools.localdb run -- $(PY) -m bench.audit

# Benchmarks (the dashboard, history sync, the history export, the history pages,
# history imports): print tables and write them to docs/benchmarks.md.
# BENCH_LISTENERS=10000: the dashboard's then fills the database with that many
# listeners and measures again against the figures before the fill.
BENCH_LISTENERS ?= 10
bench: $(STAMP)
	$(PY) -m devtools.localdb run -- $(PY) -m bench.dashboard --listeners $(BENCH_LISTENERS)
	$(PY) -m devtools.localdb run -- $(PY) -m bench.sync
	$(PY) -m devtools.localdb run -- $(PY) -m bench.history_export
	$(PY) -m devtools.localdb run -- $(PY) -m bench.history_pages
	$(PY) -m devtools.localdb run -- $(PY) -m bench.history_import

# Load and faults (Spotify 429/503/hanging, PostgreSQL restart, a worker killed)
# against a private throwaway PostgreSQL the script owns; writes docs/benchmarks.md.
loadtest: $(STAMP)
	$(PY) -m bench.loadtest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) node_modules staticfiles var .pytest_cache .ruff_cache .coverage .coverage.*
