# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install demo bench test pytest lint unit faults broker-start broker-stop clean \
	browser vendor

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

pytest: $(STAMP) browser
	$(BIN)/pytest --durations=20

# The browser test (tests/integration/test_report_html.py) opens the HTML report in
# Debian's chromium: installed here when missing and this user may (root, apt-get).
# Elsewhere the test skips and says why; under CI it fails instead.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "== installing chromium from Debian's packages"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing (apt-get install chromium): the browser test will skip"; fi; }

# The HTML report's libraries, committed under $(VENDOR) (see its README.md): fetched
# again from npm at these pinned versions, checked against SHA256SUMS, then copied in.
MERMAID_VERSION := 12.3.0
ECHARTS_VERSION := 6.1.0
VENDOR := experiments/report/vendor
vendor:
	@set -e; work="$$(mktemp -d)"; trap 'rm -rf "$$work"' EXIT; cd "$$work"; \
	npm pack --silent mermaid@$(MERMAID_VERSION) echarts@$(ECHARTS_VERSION) >/dev/null; \
	mkdir m e out; tar xzf mermaid-$(MERMAID_VERSION).tgz -C m; tar xzf echarts-$(ECHARTS_VERSION).tgz -C e; \
	cp m/package/dist/mermaid.min.js out/mermaid-$(MERMAID_VERSION).min.js; \
	cp e/package/dist/echarts.common.min.js out/echarts-$(ECHARTS_VERSION).common.min.js; \
	cp m/package/LICENSE out/LICENSE-mermaid; cp e/package/LICENSE out/LICENSE-echarts; \
	cp e/package/NOTICE out/NOTICE-echarts; cp e/package/licenses/LICENSE-d3 out/LICENSE-echarts-d3; \
	(cd out && sha256sum -c --quiet "$(CURDIR)/$(VENDOR)/SHA256SUMS"); \
	cp out/* "$(CURDIR)/$(VENDOR)/"; echo "$(VENDOR): mermaid $(MERMAID_VERSION), echarts $(ECHARTS_VERSION), sums match"

# The fault suite at full size twice: on one plaintext node, then on a secured cluster of
# three (SASL_SSL, SCRAM, default-deny ACLs applied per scenario; tests/support.py).
faults: $(STAMP)
	ORDERFLOW_FAULT_SCALE=full $(BIN)/pytest tests/faults -s
	ORDERFLOW_FAULT_SCALE=full ORDERFLOW_FAULT_KAFKA=secure-3 $(BIN)/pytest tests/faults -s

broker-start: $(STAMP)
	$(BIN)/orderflow broker start

broker-stop: $(STAMP)
	$(BIN)/orderflow broker stop

clean:
	rm -rf $(VENV) .orderflow .pytest_cache .mypy_cache .ruff_cache
