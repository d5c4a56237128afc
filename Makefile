# hullcheck — two commands set up a fresh Debian machine:
#   make demo   installs, builds a small sample image, writes its SBOM and prints a table
#   make test   installs, then runs ruff, the import-layer contract, mypy (src and tests) and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint system venv bench clean mutate

system:
	bash scripts/setup-system.sh

$(BIN)/hullcheck: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/hullcheck

demo: system venv
	$(BIN)/python scripts/demo.py

lint: venv
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/lint-imports
	$(BIN)/mypy src/hullcheck tests

test: system venv lint
	$(BIN)/pytest -q

# Mutation testing of the security-critical modules (slow: not part of `make test`).
# GROUPS="digest vex" runs some of the groups in pyproject's [tool.hullcheck-mutate]; the
# results are kept in build/mutate/; a second run re-tests survivors and changed functions.
mutate: system venv
	PYTHONPATH=src $(BIN)/python -m tests.mutation.run $(GROUPS)

# Compiled first: with PYTHONDONTWRITEBYTECODE set, every run would recompile the sources.
bench: system venv
	$(BIN)/python -m compileall -q src
	$(BIN)/python bench/sbom.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache .mypy_cache
