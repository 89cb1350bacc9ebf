# petition — the two commands: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The proof-of-work widget, from the npm registry at build time, served by us (never a CDN).
WIDGET_SRC := ops/altcha/node_modules/altcha
WIDGET := petition/static/vendor/altcha/altcha.min.js
# libsodium's JavaScript build (sumo: it has Argon2id), for the organisers' key pages: keys are
# made and exports opened in the browser, served by us.
SODIUM_SRC := ops/altcha/node_modules
SODIUM := petition/static/vendor/sodium/libsodium-wrappers.js

.PHONY: run test setup widget sodium browser-tools lint typecheck pytest screenshots messages bench bench-signing clean

run: setup
	$(BIN)/petition db upgrade
	$(BIN)/petition campaign create ops/demo-campaign.md --if-none
	$(BIN)/petition serve

test: setup lint typecheck pytest

setup: $(STAMP) widget sodium

widget: $(WIDGET)

sodium: $(SODIUM)

# One npm install serves `make run` and `make test` alike: the widget and the browser tests'
# driver (playwright-core, which fetches no browser of its own). `npm ci` installs exactly the
# lock file and never writes it, so neither command undoes the other or reinstalls for nothing.
NODE_STAMP := ops/altcha/node_modules/.installed

$(NODE_STAMP): ops/altcha/package-lock.json
	@if command -v npm >/dev/null; then \
	  npm ci --prefix ops/altcha --ignore-scripts --no-audit --no-fund --loglevel=error && \
	  touch $(NODE_STAMP); \
	else \
	  echo "NOTICE: npm not found: the proof-of-work widget is not built. Signing still works;"; \
	  echo "        forms then go through the stricter limits meant for browsers without JavaScript."; \
	  echo "NOTICE: npm not found: keys are made and exports opened with the command line only"; \
	  echo "NOTICE: npm not found: the browser tests will be skipped"; \
	fi

$(WIDGET): $(NODE_STAMP)
	@if [ -d $(WIDGET_SRC)/dist ]; then \
	  mkdir -p $(dir $(WIDGET)) && \
	  cp $(WIDGET_SRC)/dist/external/altcha.css $(WIDGET_SRC)/dist/workers/pbkdf2.js $(WIDGET_SRC)/LICENSE.txt $(dir $(WIDGET)) && \
	  cp $(WIDGET_SRC)/dist/external/altcha.min.js $(WIDGET); \
	fi

$(SODIUM): $(NODE_STAMP)
	@if [ -d $(SODIUM_SRC)/libsodium-wrappers-sumo/dist ]; then \
	  mkdir -p $(dir $(SODIUM)) && \
	  cp $(SODIUM_SRC)/libsodium-sumo/dist/modules-sumo/libsodium-sumo.js $(dir $(SODIUM)) && \
	  cp $(SODIUM_SRC)/libsodium-sumo/LICENSE $(dir $(SODIUM))LICENSE && \
	  cp $(SODIUM_SRC)/libsodium-wrappers-sumo/dist/modules-sumo/libsodium-wrappers.js $(SODIUM); \
	fi

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

pytest: setup browser-tools
	$(BIN)/pytest $(PYTEST_ARGS)

# Every page in Chromium at 390 px (phone) and 1280 px (desktop), with its checks (policy, console,
# axe-core, overflow, Nu, Lighthouse): tests/browser/test_pages.py. The pictures stay, pass or fail.
screenshots: setup browser-tools
	@$(BIN)/pytest -q -p no:logging tests/browser/test_pages.py $(PYTEST_ARGS); status=$$?; \
	echo "Screenshots: $(CURDIR)/build/screenshots/NAME-390.png (phone) and NAME-1280.png (desktop);"; \
	echo "             what was measured: $(CURDIR)/build/screenshots/report.json"; \
	exit $$status

# The browser test drives the system's Chromium (if any) with playwright-core, installed with
# the widget above. Without npm or Chromium that test is skipped, and says so.
browser-tools: $(NODE_STAMP)

# Re-extract translatable strings and merge them into the FR and EN catalogs.
messages: setup
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 --no-location --sort-output --project petition -o petition/locale/messages.pot .
	$(BIN)/pybabel update -i petition/locale/messages.pot -d petition/locale --no-fuzzy-matching --ignore-obsolete

# Petition's hot paths beside their ceilings, in one run (bench/README.md, "Side by side"):
# SQLite and the default server; e.g. BENCH_ARGS="--server both", or "--both --database-url
# postgresql://postgres@127.0.0.1:5432/bench" (that database is wiped).
bench: setup
	$(BIN)/python bench/side_by_side.py $(BENCH_ARGS)

# End to end signing with mail delivery, from Python clients (bench/sign_throughput.py).
bench-signing: setup
	$(BIN)/python bench/sign_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache ops/altcha/node_modules $(dir $(WIDGET)) $(dir $(SODIUM))
