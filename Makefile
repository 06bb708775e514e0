# Portail PKI — `make run` starts a local PKI, `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Test processes: most tests spend their time waiting on real servers, subprocesses and the databases, so
# four share two cores well (the drills have their own bounds and run one at a time in `make drill`).
WORKERS ?= 4

.PHONY: install catalogs-update system-deps run test lint bench drill fuzz clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# The browser-side key maker (issue 11): npm ci from the committed lock file, then esbuild bundles it into
# webapp/static/build/ (git-ignored); the portal serves it itself. Rebuilt when a source or the lock changes.
ASSETS := webapp/assets
BUNDLE := webapp/static/build/browser-keys.js

$(ASSETS)/node_modules/.package-lock.json: $(ASSETS)/package-lock.json
	cd $(ASSETS) && npm ci --no-audit --no-fund
	touch $@

$(BUNDLE): $(ASSETS)/node_modules/.package-lock.json $(wildcard $(ASSETS)/src/*.js)
	cd $(ASSETS) && npm run --silent build

install: $(STAMP) $(BUNDLE)
	$(VENV)/bin/pybabel -q compile -d webapp/translations

# The message catalogs (issue 15): extract every marked string and merge it into the fr and en .po files.
catalogs-update: install
	mkdir -p build
	$(VENV)/bin/pybabel -q extract -F babel.cfg --project="Portail PKI" --msgid-bugs-address="the lead of the Portail PKI project" --no-location --sort-output -o build/messages.pot webapp enrollment ca
	$(VENV)/bin/pybabel -q update -N -i build/messages.pot -d webapp/translations

system-deps:
	sh scripts/system-deps.sh

RUN_DIR ?= .
run: install
	cd $(RUN_DIR) && $(abspath $(VENV))/bin/pkictl quickstart
	cd $(RUN_DIR) && exec $(abspath $(VENV))/bin/pkictl serve all

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: install system-deps lint
	$(VENV)/bin/pytest -n $(WORKERS) --durations=25 $(PYTEST_ARGS)

# Fault drills (issue 10): real processes and signals; prints a table of what was injected, checked, measured.
# One at a time (-n 0), so that the stop and restart times are not those of a machine busy with other drills.
drill: install
	$(PY) -m pytest -p no:cacheprovider -p tests.drills.report -n 0 -q $(PYTEST_ARGS) tests/drills

# Fuzzing (issue 10 item 8): the hypothesis properties of tests/fuzz with the "long" profile (random, many more
# cases than CI's fixed "ci" budget) and schemathesis over the API; prints the cases tried per property.
# The default budget (1500 cases per parser property, 150 per form, 30 per API operation) takes about 4 minutes.
FUZZ_EXAMPLES ?= 1500
SCHEMATHESIS_EXAMPLES ?= 30
fuzz: install
	FUZZ_PROFILE=long FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) SCHEMATHESIS_EXAMPLES=$(SCHEMATHESIS_EXAMPLES) \
		$(PY) -m pytest -p no:cacheprovider -p tests.fuzz.report -n $(WORKERS) -q $(PYTEST_ARGS) \
		tests/fuzz tests/api/test_schemathesis.py

# `make bench QUICK=1`: shorter runs and smaller sizes (under 3 minutes); the table says what was not judged.
QUICK ?=
bench: install system-deps
	QUICK=$(QUICK) $(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
