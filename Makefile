# spikesim: `make demo` and `make test` work from a clean clone.
# They create .venv with Python 3.12 and install the package with the extras the tests need.

# Python 3.12: `python3.12` if it works, else a pyenv-installed 3.12.
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,dask,neo,docs,gpu,nir,nwb,elephant,nest
OUT ?= demo-out

.PHONY: demo test test-all test-slow lint format docs bench data clean venv

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found: set PYTHON=/path/to/python3.12" >&2; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	@touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/spikesim demo --out $(OUT)

test: venv
	$(BIN)/python -m pytest -q

test-slow: venv
	$(BIN)/python -m pytest -q -m slow

test-all: venv
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: venv
	$(BIN)/ruff check spikesim tests
	$(BIN)/ruff format --check spikesim tests

format: venv
	$(BIN)/ruff format spikesim tests
	$(BIN)/ruff check --fix spikesim tests

docs: venv
	$(BIN)/sphinx-build -W -b html docs docs/_build/html

bench: venv
	$(BIN)/spikesim bench events --json

# Fashion-MNIST from Debian (needs root); the tests that need it skip when it is absent.
data:
	apt-get install -y dataset-fashion-mnist

clean:
	rm -rf $(VENV) docs/_build docs/auto_examples demo-out .pytest_cache
