# petition — the two commands: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint typecheck pytest messages bench clean

run: setup
	$(BIN)/petition db upgrade
	$(BIN)/petition campaign create ops/demo-campaign.md --if-none
	$(BIN)/petition serve

test: setup lint typecheck pytest

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or later, or run make PYTHON=python3.12"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check petition tests bench migrations
	$(BIN)/ruff format --check petition tests bench migrations

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest $(PYTEST_ARGS)

# Re-extract translatable strings and merge them into the FR and EN catalogs.
messages: setup
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 --no-location --sort-output --project petition -o petition/locale/messages.pot .
	$(BIN)/pybabel update -i petition/locale/messages.pot -d petition/locale --no-fuzzy-matching --ignore-obsolete

bench: setup
	$(BIN)/python bench/sign_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
