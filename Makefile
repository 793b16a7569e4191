# deepfort: `make serve` and `make test` are the two entry points (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: serve test install install-dev lint typecheck pytest bench clean proto tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the project's dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

serve: install
	$(BIN)/deepfort serve --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check deepfort tests benchmarks
	$(BIN)/ruff format --check deepfort tests benchmarks

typecheck: install-dev
	$(BIN)/mypy

# promtool (Debian package `prometheus`) checks and unit-tests deploy/prometheus/alerts.yml.
tools:
	@command -v promtool >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO apt-get install -y -qq --no-install-recommends prometheus; }

pytest: install-dev tools
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: install
	$(BIN)/python benchmarks/single_stream.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

# Regenerate the committed gRPC stubs after editing deepfort/cluster/deepfort.proto.
proto: install-dev
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. \
		--mypy_out=. --mypy_grpc_out=. deepfort/cluster/deepfort.proto
