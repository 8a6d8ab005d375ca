# The two commands a newcomer needs: `make run` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
export UV_PYTHON_DOWNLOADS := never

HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

# What the test suite runs against: the machine's PostgreSQL and Redis (make test starts them if stopped).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/hub
TEST_REDIS_URL ?= redis://127.0.0.1:6379/12

.PHONY: run test lint typecheck check services browser imap-server bench screenshots

$(UV):
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced-run: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --inexact --no-dev --python $(PY)
	touch $@

$(VENV)/.synced-dev: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --inexact --python $(PY)
	touch $@ $(VENV)/.synced-run

run: $(VENV)/.synced-run
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py serve

services:
	@scripts/test-services.sh

browser:
	@command -v chromium >/dev/null 2>&1 || scripts/install-chromium.sh

imap-server:
	@test -x /usr/sbin/dovecot || command -v dovecot >/dev/null 2>&1 || scripts/install-dovecot.sh

test: $(VENV)/.synced-dev services browser imap-server
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports --no-cache
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) DB_CONN_MAX_AGE=0 DB_POOL=0 $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.synced-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced-dev
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports --no-cache

check: lint typecheck

bench: $(VENV)/.synced-dev services
	$(PY) bench/run.py $(BENCH_ARGS)

# Every agent page at 1440x900, 1280x800 and 390x844, written to var/screenshots/ (PostgreSQL and Redis as for make test).
screenshots: $(VENV)/.synced-dev services browser
	SHOTS_DIR=$(CURDIR)/var/screenshots DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) DB_CONN_MAX_AGE=0 DB_POOL=0 \
		$(PY) -m pytest -q -p no:cacheprovider tests/e2e/test_workspace_layout.py -k screenshots
