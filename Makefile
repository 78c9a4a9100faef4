# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install demo bench test pytest lint unit faults broker-start broker-stop clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/orderflow demo

bench: $(STAMP)
	$(BIN)/orderflow bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test: lint pytest

pytest: $(STAMP)
	$(BIN)/pytest --durations=20

faults: $(STAMP)
	ORDERFLOW_FAULT_SCALE=full $(BIN)/pytest tests/faults -s

broker-start: $(STAMP)
	$(BIN)/orderflow broker start

broker-stop: $(STAMP)
	$(BIN)/orderflow broker stop

clean:
	rm -rf $(VENV) .orderflow .pytest_cache .mypy_cache .ruff_cache
