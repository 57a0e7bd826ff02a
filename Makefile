# The two commands of the README: `make demo` (a simulated border post) and `make test` (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Reinstall when the project or the MRZ scan's C source changes (pip install -e compiles it: hatch_build.py).
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml hatch_build.py edge/documents/_mrzscan.c | cksum | cut -d' ' -f1)
MODELS ?= $(CURDIR)/models

.PHONY: demo test install lint bench clean

$(STAMP): pyproject.toml hatch_build.py edge/documents/_mrzscan.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m edge finger nbis-compat
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" BORDERPOST_MODELS_DIR="$(MODELS)" ./scripts/demo.sh

test: $(STAMP)
	BORDERPOST_MODELS_DIR="$(MODELS)" $(PY) -m edge models fetch --dir "$(MODELS)" || true
	BORDERPOST_MODELS_DIR="$(MODELS)" $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache artifacts

fuzz: $(STAMP)  # every decoder, time-boxed (FUZZ_SECONDS, default 600); atheris if it installs, else hypothesis
	$(PY) -m pip install --quiet atheris 2>/dev/null || true; $(PY) scripts/fuzz.py --seconds $${FUZZ_SECONDS:-600}
