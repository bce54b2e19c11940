# The front door. `make help` lists the targets.
# Everything runs inside .venv, created with `python3 -m venv` and filled from requirements.lock.

PY       ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
DATASET  ?= complete_journey
NOTEBOOKS ?=
PYTEST_ARGS ?=
N        ?= 100000000
SEED     ?= 42
BIGDATA  ?= data/big
ENGINE   ?=

.DEFAULT_GOAL := help
.PHONY: help setup reports test test-fast test-portable lab notebooks lint benchmark lock clean bigdata tables

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-11s %s\n", $$1, $$2}'
	@echo "  variables: DATASET=$(DATASET) (configs/*.yaml), NOTEBOOKS='01 04' (subset), PY=$(PY), N=$(N) (bigdata), ENGINE=duckdb|spark"

$(STAMP): requirements.lock pyproject.toml
	@$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, {sys.executable} is {sys.version.split()[0]}: make PY=python3.11"'
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install the locked versions (reused when up to date)

reports: $(STAMP) ## run every notebook on DATASET and write HTML reports to reports/DATASET/ (ENGINE=duckdb|spark: tables at scale)
	$(BIN)/python -m retention_utils.reports run --dataset $(DATASET) $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS)) $(if $(ENGINE),--engine $(ENGINE))

test: $(STAMP) ## unit tests + runner tests + nbval over notebooks/ (stored outputs must still match)
	$(BIN)/python -m pytest tests notebooks --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg $(PYTEST_ARGS)

test-fast: $(STAMP) ## unit and runner tests only (no notebooks)
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

test-portable: $(STAMP) ## the notebook tests under two OpenBLAS kernels x two thread counts (stored outputs must pass all)
	$(BIN)/python tests/portable.py $(PYTEST_ARGS)

lab: $(STAMP) ## JupyterLab on notebooks/ with retention_utils importable (also as root, e.g. in a container)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

notebooks: $(STAMP) ## re-execute notebooks in place (NOTEBOOKS='01 04' or paths) to update the outputs nbval compares
	$(BIN)/python -m retention_utils.reports refresh $(NOTEBOOKS)

lint: $(STAMP) ## ruff over the package, tests and benchmarks
	$(BIN)/ruff check retention_utils tests benchmarks

benchmark: $(STAMP) ## run every benchmarks/*.py script (ratios measured in one run)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lock: ## add new pyproject.toml dependencies to requirements.lock without moving any existing pin
	rm -rf .lockvenv && $(PY) -m venv .lockvenv
	# the current lock is a constraint: only packages it does not pin yet are resolved (a conflict stops here)
	grep -v '^-e' requirements.lock | grep -v '^#' > .lockvenv/constraints.txt
	.lockvenv/bin/python -m pip install --quiet -c .lockvenv/constraints.txt ".[dev]" "setuptools>=77"
	{ echo "# Exact versions for Python 3.11, resolved from pyproject.toml (dependencies + [dev]) by 'make lock'."; \
	  echo "# Installed with pip only: pip install -r requirements.lock && pip install --no-deps --no-build-isolation -e ."; \
	  echo "setuptools==80.9.0"; \
	  .lockvenv/bin/python -m pip freeze --exclude-editable | grep -v '^retention-utils'; } > requirements.lock
	rm -rf .lockvenv

bigdata: $(STAMP) ## write the seeded synthetic log of N lines (default 100 M, ~0.9 GB) to data/big/ (FORCE=1 replaces it)
	$(BIN)/python -m retention_utils.data.synthetic --lines $(N) --seed $(SEED) --out $(BIGDATA) $(if $(FORCE),--overwrite)

tables: $(STAMP) ## transaction-level tables of DATASET on ENGINE (duckdb|spark|pandas) to reports/DATASET/tables/
	$(BIN)/python -m retention_utils.engines run --dataset $(DATASET) $(if $(ENGINE),--engine $(ENGINE)) \
		--output-dir reports/$(DATASET)/tables

clean: ## remove generated reports (keeps .venv)
	find reports -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
