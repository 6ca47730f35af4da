# The template repository's own tasks. `make demo` and `make test` need only
# python3 (>= 3.10), git and make: the first run builds .venv with the tools.
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQUIREMENTS := tests/requirements.txt
# Touched after a successful install; older than the requirements file = reinstall.
READY := $(VENV)/.ready
# Extra pytest arguments, e.g. make test PYTEST_ARGS="-k hostile -x"
PYTEST_ARGS ?=
# pytest-xdist workers (`make test` runs the fast tier beside the slow one).
WORKERS ?= 2

.PHONY: help demo test test-fast test-slow bench lint format project-lint project-lock clean distclean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(READY): $(REQUIREMENTS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
		|| { echo "make: $(PYTHON) is older than 3.10; run with PYTHON=python3.11 (or newer)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) \
		|| { echo "make: '$(PYTHON) -m venv' failed (on Debian/Ubuntu: apt install python3-venv)"; exit 1; }
	@echo "make: installing the template's tools into $(VENV) (first time: about a minute)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.8"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r $(REQUIREMENTS)
	@touch $@

demo: $(READY) ## Bake the default project into demo/, set it up, run it, compare every model
	$(BIN)/python scripts/bakery.py demo

test: $(READY) ## Run the whole test suite (fast and slow tiers; about 10 minutes)
	$(BIN)/pytest -n $(WORKERS) --dist loadgroup --durations=15 $(PYTEST_ARGS)

test-fast: $(READY) ## Only the fast tier (bakes, parses, lints, hostile answers; about a minute)
	$(BIN)/pytest -n $(WORKERS) -m "not slow" $(PYTEST_ARGS)

test-slow: $(READY) ## Only the slow tier (make setup, the project's tests, its pipeline)
	$(BIN)/pytest -m slow $(PYTEST_ARGS)

bench: $(READY) ## Run bench/bench_*.py, print a table, write bench/results.json
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Named explicitly: ruff would otherwise read the template's unrendered pyproject.toml.
OWN_CODE := local_extensions.py scripts tests bench

lint: $(READY) ## ruff on the template's own code (tests, bench, scripts)
	$(BIN)/ruff check $(OWN_CODE) && $(BIN)/ruff format --check $(OWN_CODE)

format: $(READY) ## Format the template's own code
	$(BIN)/ruff check --fix $(OWN_CODE) && $(BIN)/ruff format $(OWN_CODE)

project-lint: $(READY) ## ruff the project's .py files as generated; FIX=1 applies the fixes
	$(BIN)/python scripts/format_template.py $(if $(FIX),--fix)

project-lock: $(READY) ## Refresh the project's uv.lock after a change to its dependencies; UPGRADE=1: newest versions
	$(BIN)/python scripts/lock_template.py $(if $(UPGRADE),--upgrade)

clean: ## Remove what demo, bench and tests leave behind (keeps .venv)
	rm -rf demo bench/.work .cache .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +

distclean: clean ## Also remove .venv
	rm -rf $(VENV)
