# faceport: make demo | make test | make install | make lint | make bench | make fuzz
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo lint bench clean test-prereqs

# Each area adds its own targets (and prerequisites of test-prereqs) in mk/<area>.mk.
-include mk/*.mk

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: the CPU wheel on disk; an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check faceport tests benchmarks tools fuzz
	$(BIN)/mypy

test: $(STAMP) test-prereqs
	$(MAKE) lint
	$(BIN)/python -m pytest -q tests

demo: $(STAMP)
	$(BIN)/python -m faceport.demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(ARGS)

test-prereqs:

clean:
	rm -rf $(VENV) .venv-mxnet out build
