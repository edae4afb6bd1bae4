# Two commands matter: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
# Each xdist worker gwN adds N to these Redis dbs (tests/xdist_env.py): 12-13 and 14-15.
TEST_REDIS_URL ?= redis://127.0.0.1:6379/12
E2E_REDIS_URL ?= redis://127.0.0.1:6379/14
E2E_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/botstream_e2e
export TEST_DATABASE_URL TEST_REDIS_URL E2E_REDIS_URL
# Both passes run on PYTEST_WORKERS processes (pytest-xdist; 0 = in this process): most of
# the suite's time is spent waiting on servers, browsers and streams, which overlap. Each
# module stays on one worker, the browser package too (tests/xdist_env.py).
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile -p tests.xdist_env

.PHONY: run test test-embedded test-services lint format schema bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The task-queue worker (expiry sweeps…) runs beside daphne and stops with it.
run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py worker --no-reload & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/daphne -b $(HOST) -p $(PORT) server.asgi:application

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: $(STAMP)
	$(BIN)/python manage.py export_schema schema --path schema.graphql

# Pass 1: the embedded default (SQLite, in-memory channel layer).
# Pass 2: Postgres + Redis (channels-redis), required under CI=true. The browser tests
# run once, in pass 1: they exercise pages, not the database or the layer.
test: lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(MAKE) --no-print-directory test-embedded
	@$(BIN)/python -m tests.services; status=$$?; \
	if [ $$status -eq 0 ]; then $(MAKE) --no-print-directory test-services; \
	elif [ $$status -eq 2 ]; then exit 1; fi

test-embedded: $(STAMP)
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

test-services: $(STAMP)
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	E2E_DATABASE_URL=$(E2E_DATABASE_URL) REDIS_TEST_URL=$(TEST_REDIS_URL) \
	$(BIN)/python -m pytest --ignore=tests/browser $(XDIST) $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
