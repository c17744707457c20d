# Two commands for a fresh machine: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run test lint format translations

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

# axe-core, injected into pages by the accessibility test (from the npm registry)
tests/js/node_modules/.installed: tests/js/package.json tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --silent
	touch $@

## Install, migrate the embedded SQLite database and serve on http://127.0.0.1:5000/demo
## (gunicorn and the job worker together; Ctrl-C stops both)
run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	@echo "Open http://$(HOST):$(PORT)/demo"
	VENV=$(VENV) HOST=$(HOST) PORT=$(PORT) bash scripts/serve.sh

## Install and run every check: lint, format, the whole test suite (browser tests included)
test: install tests/js/node_modules/.installed
	bash scripts/ensure-system.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PYTEST=$(VENV)/bin/pytest bash scripts/run-tests.sh

lint:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Re-extract UI strings, merge them into the catalogues and compile
translations:
	$(VENV)/bin/pybabel extract -F babel.cfg -k lazy_gettext -o /tmp/messages.pot .
	$(VENV)/bin/pybabel update -i /tmp/messages.pot -d service/translations -w 100
	$(VENV)/bin/pybabel compile -d service/translations
