# planforge task runner: one entry each to install, generate the examples, test, regenerate goldens and check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXAMPLES := $(wildcard examples/*/feature.yaml)

.PHONY: install install-test example regen check lint test fuzz bench clean

$(BIN)/planforge: pyproject.toml runtime/pyproject.toml testkit/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e runtime -e testkit -e '.[runtime]'
	$(BIN)/python scripts/compile-templates
	touch $@

install: $(BIN)/planforge

install-test: install
	$(BIN)/pip install --quiet -e runtime -e testkit -e '.[runtime,test]'
	$(BIN)/python scripts/compile-templates
	scripts/install-system-deps

example: install  ## install, then generate every example into generated/
	@for m in $(EXAMPLES); do $(BIN)/planforge generate $$m || exit $$?; done

regen: example  ## regenerate the committed goldens, the expected output of clean cases, the manifest reference and the compiled templates
	$(BIN)/python -c "from planforge.rules.imported import write_snapshot; write_snapshot()"
	$(BIN)/planforge schema --markdown > docs/manifest.md
	$(BIN)/python scripts/regen-cases
	$(BIN)/python scripts/compile-templates

check: install  ## CI regeneration check, lint and types
	@for m in $(EXAMPLES); do $(BIN)/planforge check $$m || exit $$?; done
	$(BIN)/ruff check src runtime testkit tests
	$(BIN)/ruff format --check src runtime testkit tests
	$(BIN)/mypy

test: install-test  ## install everything the suite needs, then run it all
	$(BIN)/python -m pytest $(PYTEST_ARGS)

fuzz: install-test  ## the property suite on many more generated manifests (PROPERTY_EXAMPLES=N to choose)
	HYPOTHESIS_PROFILE=planforge-fuzz $(BIN)/python -m pytest -x tests/property $(PYTEST_ARGS)

bench: install  ## the benchmarks (peers in their own venv, .venv-bench); writes benchmarks/results.json
	$(BIN)/pip install --quiet -e runtime -e testkit -e '.[runtime,bench]'
	test -x .venv-bench/bin/pip || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/messaging.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
