# One command each on a fresh clone: `make demo` (start the web app) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INKDIGIT := $(VENV)/bin/inkdigit
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
SYSTEM_PACKAGES := chromium chromium-driver xvfb xdotool gcc libc6-dev npm
PYTEST_ARGS ?=

.PHONY: demo test test-fast venv sysdeps data models chars-models lint bench clean help

help:
	@echo "make demo    - set up, then start the web app at http://$(HOST):$(PORT)"
	@echo "make test    - set up (venv, system packages when root, MNIST), lint, run every test"
	@echo "make test-fast - lint and the tests not marked slow (no browser, real window or MNIST training)"
	@echo "make models  - retrain and re-export the bundled ONNX models (make chars-models: letters, alnum, math only)"
	@echo "make bench   - run the speed benchmarks quoted in the README (accuracy: python benchmarks/accuracy.py)"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

# Browser and desktop-GUI tests need Debian's Chromium, Xvfb and xdotool, the paper net's fused training
# step needs a C compiler, and the handwriting fonts come from the npm registry through npm. As root they are
# installed here; otherwise the tests that need them fail with a message naming the missing program.
sysdeps:
	@missing=0; for c in chromium Xvfb xdotool cc npm; do command -v $$c >/dev/null || missing=1; done; \
	if [ $$missing = 1 ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages: $(SYSTEM_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      $(SYSTEM_PACKAGES) >/dev/null; \
	  else echo "note: run as root (or install $(SYSTEM_PACKAGES)) for the browser, GUI and fused-step tests"; fi; \
	fi

# The fonts need npm: without it the fetch says so and the one test that reads the real fonts fails with how
# to fetch them, while the rest still run.
data: venv sysdeps
	$(INKDIGIT) fetch
	-$(INKDIGIT) fetch --dataset fonts

test: venv sysdeps data
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The development loop: everything but the tests marked slow (see pyproject.toml), in under a minute.
test-fast: venv data
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

demo: venv
	@echo "inkdigit web app: open http://$(HOST):$(PORT) (Ctrl-C stops it)"
	$(INKDIGIT) serve --host $(HOST) --port $(PORT)

# Rebuild the bundled models from scratch with their documented recipes.
# resnet-small, the default, is its recipe's run fine-tuned for 3 epochs with 6,000 digits drawn from the training
# fonts and pen lifts (docs/experiments.md), exported with test-time augmentation (--tta), and once more with one
# view (weights/plain/): reading a line scores its candidates with that one, at half the cost.
models: venv data
	rm -rf runs/bundled-paper runs/bundled-resnet-small-base runs/bundled-resnet-small runs/bundled-verifier \
		runs/bundled-pairs
	$(INKDIGIT) train --model paper --seed 0 --out runs/bundled-paper --no-progress
	$(INKDIGIT) export runs/bundled-paper --out src/inkdigit/weights/paper.onnx
	$(INKDIGIT) train --model resnet-small --seed 0 --out runs/bundled-resnet-small-base --no-progress
	$(INKDIGIT) train --model resnet-small --init-from runs/bundled-resnet-small-base --epochs 3 --lr 0.02 \
		--font-digits 6000 --pen-lifts 0.5 --seed 0 --out runs/bundled-resnet-small --no-progress
	$(INKDIGIT) export runs/bundled-resnet-small --out src/inkdigit/weights/resnet-small.onnx --tta
	$(INKDIGIT) export runs/bundled-resnet-small --out src/inkdigit/weights/plain/resnet-small.onnx
	$(PY) -m inkdigit.training.verifier --seed 0 --out runs/bundled-verifier
	mkdir -p src/inkdigit/weights/verifier
	cp runs/bundled-verifier/whole-digit.onnx src/inkdigit/weights/verifier/whole-digit.onnx
	$(PY) -m inkdigit.training.pairs --seed 0 --out runs/bundled-pairs
	mkdir -p src/inkdigit/weights/pair
	cp runs/bundled-pairs/pair-digits.onnx src/inkdigit/weights/pair/pair-digits.onnx
	$(MAKE) chars-models

# The letters, alnum and math models (src/inkdigit/weights/chars/): glyphs drawn from the handwriting fonts
# (cached under the data dir after the first run), MNIST's digits for alnum and math (letters: three seeds averaged,
# weights stored in 16-bit floats to stay within 2 MB); recipes in
# src/inkdigit/training/recipes.py (CHARSET_RECIPES), numbers in docs/charsets.md. Then the whole-character
# verifier that reading their lines uses (lines drawn in the training fonts).
chars-models: venv data
	rm -rf runs/bundled-letters runs/bundled-letters-1 runs/bundled-letters-2 runs/bundled-alnum runs/bundled-math runs/bundled-char-verifier
	mkdir -p src/inkdigit/weights/chars
	$(INKDIGIT) train --model resnet-small --charset letters --seed 0 --out runs/bundled-letters --no-progress
	$(INKDIGIT) train --model resnet-small --charset letters --seed 1 --out runs/bundled-letters-1 --no-progress
	$(INKDIGIT) train --model resnet-small --charset letters --seed 2 --out runs/bundled-letters-2 --no-progress
	$(INKDIGIT) export runs/bundled-letters runs/bundled-letters-1 runs/bundled-letters-2 --half \
		--out src/inkdigit/weights/chars/letters.onnx
	$(INKDIGIT) train --model resnet-small --charset alnum --seed 0 --out runs/bundled-alnum --no-progress
	$(INKDIGIT) export runs/bundled-alnum --out src/inkdigit/weights/chars/alnum.onnx
	$(INKDIGIT) train --model resnet-small --charset math --seed 0 --out runs/bundled-math --no-progress
	$(INKDIGIT) export runs/bundled-math --out src/inkdigit/weights/chars/math.onnx
	$(PY) -m inkdigit.training.verifier --chars --lines 6000 --seed 0 --out runs/bundled-char-verifier
	mkdir -p src/inkdigit/weights/verifier
	cp runs/bundled-char-verifier/whole-char.onnx src/inkdigit/weights/verifier/whole-char.onnx

bench: venv data
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/predict_speed.py --model paper
	$(PY) benchmarks/canvas_mnist.py --model paper --n 10000 --seed 0
	$(PY) benchmarks/written_numbers.py --model paper --n 1000 --seed 0
	$(PY) benchmarks/serve_load.py --requests 20000 --concurrency 8 --max-seconds 60
	$(PY) benchmarks/serve_load.py --requests 10000 --concurrency 8 --rate 300 --max-seconds 60
	$(PY) benchmarks/preprocess_speed.py

clean:
	rm -rf runs test-output .pytest_cache
