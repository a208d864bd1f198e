# Two commands: `make run` and `make test`. Both set up .venv on first use and reuse it after.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint bench clean clean-journals chromium vendor

run: $(VENV)/.installed
	$(BIN)/python run.py run

test: $(VENV)/.installed-test chromium
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

# The dashboard's browser tests drive a real headless chromium: Debian's package, installed
# once here (no-op when present). It needs root or passwordless sudo; without them, or without
# apt-get, the browser tests are skipped (each says why) and the rest of the suite still runs.
chromium:
	@command -v chromium >/dev/null 2>&1 && exit 0; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "chromium: apt-get unavailable: the dashboard browser tests will be skipped"; exit 0; fi; \
	SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO="sudo -n"; \
	if [ -n "$$SUDO" ] && ! sudo -n true >/dev/null 2>&1; then \
		echo "chromium: not installed and no passwordless sudo: the dashboard browser tests will be skipped (install it with: sudo apt-get install chromium)"; exit 0; fi; \
	echo "chromium: installing Debian's chromium (system package, via apt-get) for the dashboard browser tests"; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -q >/dev/null 2>&1 && $$SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; } || \
		echo "chromium: apt-get install failed: the dashboard browser tests will be skipped (try: sudo apt-get install chromium)"

# The dashboard's and the reports' charting library (TradingView Lightweight Charts), vendored:
# re-fetched from the npm registry and checked against its pinned sha256. Nothing fetches it at run time.
vendor:
	web/static/vendor/refresh.sh

bench: $(VENV)/.installed-test
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The stamps depend on pyproject.toml, so a changed dependency list reinstalls once; and on the
# compiled indicator code's sources, which the install builds in place (setup.py; optional: without
# a C compiler the install succeeds and the bot runs the Python set, saying so at start).
$(VENV)/.installed: pyproject.toml setup.py indicators/_frame.c indicators/_kernels.c indicators/_rolling_sum.h | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# The suite also covers walk-forward tuning, so the optional 'tune' extra comes with the tests.
$(VENV)/.installed-test: pyproject.toml Makefile setup.py indicators/_frame.c indicators/_kernels.c indicators/_rolling_sum.h | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,tune]'
	touch $@ $(VENV)/.installed

# Keeps the journals (var/*.sqlite: the audit trail of every run) and tuning studies; removes
# what is rebuilt on demand. `make clean-journals` is the explicit way to start the record over.
clean:
	rm -rf $(VENV) .pytest_cache .hypothesis var/backtest build indicators/_*.so

clean-journals:
	@echo "removing the bot's journals (every run's decisions, orders, fills and trades): $$(ls var/*.sqlite 2>/dev/null | tr '\n' ' ')"
	rm -f var/*.sqlite var/*.sqlite-wal var/*.sqlite-shm var/*.sqlite.lock
