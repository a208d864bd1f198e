# Two commands: `make run` and `make test`. Both set up .venv on first use and reuse it after.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint bench clean chromium vendor

run: $(VENV)/.installed
	$(BIN)/python run.py run

test: $(VENV)/.installed-test chromium
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

# The dashboard's browser test drives a real headless chromium: Debian's package, installed
# once here (no-op when present). Only where apt itself is missing does the test skip.
chromium:
	@command -v chromium >/dev/null 2>&1 && exit 0; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "chromium: apt-get unavailable, the dashboard browser test will be skipped"; exit 0; fi; \
	SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO="sudo -n"; \
	echo "chromium: installing Debian's chromium for the dashboard browser test"; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; } || \
		{ echo "chromium: apt-get install failed (see: apt-get install -y chromium)"; exit 1; }

# The dashboard's and the reports' charting library (TradingView Lightweight Charts), vendored:
# re-fetched from the npm registry and checked against its pinned sha256. Nothing fetches it at run time.
vendor:
	web/static/vendor/refresh.sh

bench: $(VENV)/.installed-test
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The stamps depend on pyproject.toml, so a changed dependency list reinstalls once.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# The suite also covers walk-forward tuning, so the optional 'tune' extra comes with the tests.
$(VENV)/.installed-test: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,tune]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis var
