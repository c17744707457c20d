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

## Install, migrate the embedded SQLite database and serve on http://127.0.0.1:5000/demo
run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	@echo "Open http://$(HOST):$(PORT)/demo"
	$(VENV)/bin/gunicorn --workers 2 --threads 4 --bind $(HOST):$(PORT) --access-logfile - wsgi:app

## Install and run every check: lint, format, the whole test suite (browser tests included)
test: install
	bash scripts/ensure-system.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest

lint:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Re-extract UI strings, merge them into the catalogues and compile
translations:
	$(VENV)/bin/pybabel extract -F babel.cfg -k lazy_gettext -o /tmp/messages.pot .
	$(VENV)/bin/pybabel update -i /tmp/messages.pot -d service/translations -w 100
	$(VENV)/bin/pybabel compile -d service/translations
