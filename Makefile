# Two commands for a fresh Debian machine: `make demo` and `make test`.
# Both install what is missing (Debian packages, .venv, the package) and are fast when set up.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.docfields-installed
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-tha poppler-utils chromium fonts-tlwg-garuda-ttf
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_OUT ?= demo-output

.PHONY: setup system demo test bench lint clean

setup: system $(STAMP)

# Debian packages: Tesseract's language data (tesserocr bundles the engine itself), poppler,
# which only the benchmarks' baseline (the original's pdf2image method) uses, and a Thai font
# for the test that OCRs a Thai page.
system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# torch goes first, pinned: the CPU build on this machine's disk. Anything else downloads gigabytes.
$(STAMP): pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[all,dev]'
	touch $@

# One worker per core, a test module per worker (module fixtures such as a Ray cluster start once):
# the suite waits on subprocesses, servers and a browser about half of its time.
test: setup
	$(BIN)/python -m pytest -n auto --dist loadfile

demo: setup
	bash examples/demo.sh $(DEMO_OUT)

# About an hour: the normalizer benchmark trains its model for 15 minutes, the confidence benchmark two
# taggers for 6 each. The tagger benchmark (bench/ner_bench.py, hours at full size) runs on its own.
bench: setup
	$(BIN)/python bench/thumbnails_bench.py
	$(BIN)/python bench/ocr_bench.py
	$(BIN)/python bench/normalize_bench.py --threads 1
	$(BIN)/python bench/pipeline_bench.py
	$(BIN)/python bench/confidence_bench.py

lint: setup
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
