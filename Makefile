# tinypdm: the two commands a fresh machine needs are `make demo` and `make test`.
# Both create .venv, install the project with the pinned versions of constraints.txt,
# install the missing Debian tools when run as root, then run.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tinypdm-installed

.PHONY: demo test test-fast lint bench system-deps venv clean

demo: venv system-deps
	$(BIN)/tinypdm demo

test: venv system-deps
	bash scripts/run-tests.sh

test-fast: venv
	$(BIN)/pytest -m "not slow" -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check vibration firmware_export dashboard tests bench
	$(BIN)/mypy vibration firmware_export dashboard
	$(BIN)/lint-imports

bench: venv system-deps
	$(BIN)/python -m bench

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

system-deps:
	@bash scripts/install-system-deps.sh

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache *.egg-info
