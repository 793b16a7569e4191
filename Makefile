# deepfort: `make serve` and `make test` are the two entry points (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: serve test test-fast install install-dev lint typecheck pytest bench clean proto tools web webtest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# llama-cpp-python compiles llama.cpp from source. GGML_NATIVE=OFF builds for a baseline x86-64 (AVX2, FMA,
# F16C) instead of -march=native: some of our machines report AMX or AVX-512 in /proc/cpuinfo that their
# kernel does not let a process use (SIGILL at the first large batch), and pip's cache would hand a native
# wheel to a machine with another CPU. The same flag as deploy/Dockerfile.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

# Reinstall only when the project's dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,train]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The web console (web/, Vite + React): built into deepfort/web/static, which `deepfort serve` serves at /.
# npm ci runs again only when the lockfile changes, the build only when a source does.
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.ts \
	web/tsconfig.json web/package.json

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

deepfort/web/static/index.html: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run build

web: deepfort/web/static/index.html

webtest: web
	cd web && npm test

serve: install web
	$(BIN)/deepfort serve --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check deepfort tests benchmarks
	$(BIN)/ruff format --check deepfort tests benchmarks
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy

# promtool (Debian package `prometheus`) checks and unit-tests deploy/prometheus/alerts.yml.
tools:
	@command -v promtool >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO apt-get install -y -qq --no-install-recommends prometheus; }
	@# Debian's headless Chromium for the console's browser tests (never Playwright's own download).
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO apt-get install -y -qq --no-install-recommends chromium; }
	@# espeak-ng narrates the AIGC workflows' tts node; WenQuanYi Micro Hei renders CJK on storyboard cards.
	@command -v espeak-ng >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO apt-get install -y -qq --no-install-recommends espeak-ng; }
	@[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO apt-get install -y -qq --no-install-recommends fonts-wqy-microhei; }

pytest: install-dev tools web
	$(BIN)/pytest -q

test: lint typecheck webtest pytest

# The inner loop, in under a minute: tests that run in this process on scripted engines and SQLite (the
# app through httpx.ASGITransport). Left to `make test`: e2e (they start a process: `deepfort serve`, a
# center, Chromium, promtool, helm, ffmpeg), slow (the real model in process: its decode threads take
# every core) and the PostgreSQL variants of the store tests. tests/conftest.py checks the markers.
test-fast: install-dev
	$(BIN)/pytest -q -m "not e2e and not slow and not postgres"

bench: install
	$(BIN)/python benchmarks/single_stream.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

# Regenerate the committed gRPC stubs after editing deepfort/cluster/deepfort.proto.
proto: install-dev
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. \
		--mypy_out=. --mypy_grpc_out=. deepfort/cluster/deepfort.proto
