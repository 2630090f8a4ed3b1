# Konbit: `make run` sets up everything and serves the demo; `make test` runs the suite
# on SQLite, then again on PostgreSQL when a server answers at 127.0.0.1:5432.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
PYTEST_ARGS ?=

.PHONY: install run serve demo migrate test test-sqlite test-postgres browser bench clean i18n-extract i18n-update i18n-compile vendor-br

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $@

install: $(BIN)/.installed

migrate: install
	$(BIN)/konbit db upgrade

demo: migrate
	$(BIN)/konbit demo

run: demo
	@echo "Demo logins are in $${KONBIT_DATA_DIR:-var}/demo-logins.txt:"; cat $${KONBIT_DATA_DIR:-var}/demo-logins.txt
	$(BIN)/konbit serve --with-scheduler --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser tests (never a downloaded browser build).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)); \
	  else echo "Chromium is missing: install Debian's chromium package for the browser tests."; fi; \
	fi

test: install browser test-sqlite test-postgres

test-sqlite: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-postgres: install
	@if $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2)" 2>/dev/null; then \
	  echo "PostgreSQL answers at 127.0.0.1:5432: running the database tests on it"; \
	  KONBIT_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest -q -m db $(PYTEST_ARGS); \
	else echo "No PostgreSQL at 127.0.0.1:5432: skipping the PostgreSQL pass"; fi

bench: install
	$(BIN)/python benchmarks/analysis_report.py --per-wave 20000 200000
	$(BIN)/python benchmarks/import_kobo_csv.py
	$(BIN)/python benchmarks/submit_api.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache test-results

# The interface's catalogs (web/locale; terms in docs/glossary.md). Extract the marked strings into
# the template, merge them into each language's .po, compile the .mo files (not committed: the
# app compiles a .po in memory when its .mo is missing or older).
I18N_EXTRACT = $(BIN)/pybabel extract -F web/locale/babel.cfg --no-location --sort-output --project Konbit \
	--copyright-holder Konbit --msgid-bugs-address "" -o web/locale/messages.pot .
i18n-extract: install
	$(I18N_EXTRACT)

i18n-update: i18n-extract
	$(BIN)/pybabel update -i web/locale/messages.pot -d web/locale --no-fuzzy-matching --width 100

i18n-compile: install
	$(BIN)/pybabel compile -d web/locale --statistics

# Brotli copies of the vendored front-end files (web/assets.py serves them; Python has no brotli).
VENDORED_BR := web/static/vendor/plotly/plotly-basic.min.js web/static/vendor/htmx/htmx.min.js \
	web/static/vendor/swagger-ui/swagger-ui-bundle.js web/static/vendor/swagger-ui/swagger-ui.css
vendor-br:
	node web/vendor_br.js $(VENDORED_BR)
