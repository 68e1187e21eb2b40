# PIM: `make run` and `make test` do all the set-up on a fresh machine (see README).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export UV_PYTHON_DOWNLOADS := never

HOST ?= 127.0.0.1

.PHONY: serve code run test test-sqlite test-postgres check lint format bench clean install install-test chromium

## run: install, migrate, load the demo data and serve on http://127.0.0.1:$(PORT) with the task cluster
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py setup_schedules
	$(PY) manage.py serve --port $(PORT)

## serve: the production stack against DATABASE_URL (PostgreSQL): migrate, collectstatic, schedules,
## then gunicorn (WEB_CONCURRENCY workers) and the django-q2 cluster (Q_WORKERS). Needs SECRET_KEY and
## ALLOWED_HOSTS; see the README's "Running it for real".
serve: install
	@case "$$DATABASE_URL" in postgres://*|postgresql://*) ;; \
	  *) echo "make serve needs DATABASE_URL=postgres://user:password@host:5432/pim (PostgreSQL)" >&2; exit 1;; esac
	PIM_ENV=production $(PY) manage.py migrate --noinput
	PIM_ENV=production $(PY) manage.py collectstatic --noinput -v0
	PIM_ENV=production $(PY) manage.py setup_schedules
	PIM_ENV=production $(PY) manage.py serve --production --host $(HOST) --port $(PORT)

## test: the whole suite on SQLite, then again on a throw-away PostgreSQL 15 server
test: install-test chromium
	@status=0; \
	$(MAKE) --no-print-directory test-sqlite || status=1; \
	$(MAKE) --no-print-directory test-postgres || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (see above)"; fi; \
	exit $$status

test-sqlite: install-test
	$(VENV)/bin/pytest -m "not postgres" $(PYTEST_ARGS)

test-postgres: install-test
	tests/with-postgres.sh $(VENV)/bin/pytest $(PYTEST_ARGS)

## check: lint, formatting, migrations in step with models, and the production deploy check
check: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	PIM_ENV=production SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))') \
	  ALLOWED_HOSTS=pim.example.com $(PY) manage.py check --deploy --fail-level WARNING

## bench: speed figures as ratios to baselines measured in the same run, on a throw-away PostgreSQL
## (bench/results/); QUICK=1 for the small data set (under 3 minutes); ONLY=sweep,verify for some
## figures; exits 1 when a goal is missed
bench: install-test
	$(PY) -m bench $(if $(filter-out 0,$(QUICK)),--quick) $(if $(ONLY),--only $(ONLY))

format: install-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

$(VENV)/bin/uv:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv

$(VENV)/.installed-run: pyproject.toml | $(VENV)/bin/uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[test]'
	touch $@ $(VENV)/.installed-run

## chromium: Debian's browser for the Playwright journeys (never a downloaded one)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" -ne 0 ]; then echo "chromium is missing: run 'apt-get install chromium' as root" >&2; exit 1; fi; \
	  echo "Installing Debian's chromium..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

## code: the demo accounts' current verification code, for trying PIM without an authenticator app
code: install
	@$(PY) manage.py demo_code
