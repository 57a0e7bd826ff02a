# The two commands of the README: `make demo` (a simulated border post) and `make test` (the whole suite).
# Each does its own set-up on a fresh Debian 12 / Raspberry Pi OS clone: missing system packages (apt-get as
# root, else the exact sudo line and exit 2), the venv, the verified face models; nothing is skipped quietly.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Reinstall when the project or the MRZ scan's C source changes (pip install -e compiles it: hatch_build.py).
HASH   := $(shell cat pyproject.toml hatch_build.py edge/documents/_mrzscan.c | cksum | cut -d' ' -f1)
DEMO_STAMP := $(VENV)/.installed-demo-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)
MODELS ?= $(CURDIR)/models
PYTEST_ARGS ?=             # e.g. make test PYTEST_ARGS="tests/drivers -x"
export BORDERPOST_MODELS_DIR := $(MODELS)

.PHONY: demo test install system-demo system-test models lint bench clean fuzz image image-arm64 image-test bundle image-update-test

system-demo:
	@./scripts/system-deps.sh demo

system-test:
	@./scripts/system-deps.sh test

# The demo installs the project alone; the tests add the test extras.
$(DEMO_STAMP): pyproject.toml hatch_build.py edge/documents/_mrzscan.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	$(PY) -m edge finger nbis-compat
	rm -f $(VENV)/.installed-demo-*
	touch $@

$(TEST_STAMP): pyproject.toml hatch_build.py edge/documents/_mrzscan.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m edge finger nbis-compat
	rm -f $(VENV)/.installed-*
	touch $@ $(DEMO_STAMP)

install: system-demo $(DEMO_STAMP)

models:
	$(PY) -m edge models fetch --dir "$(MODELS)" --demo-face

demo: system-demo $(DEMO_STAMP) models
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ./scripts/demo.sh

test: system-test $(TEST_STAMP) models
	$(PY) -m tests.fixtures.face_images
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache artifacts

fuzz: $(TEST_STAMP)  # every decoder, time-boxed (FUZZ_SECONDS, default 600); atheris if it installs, else hypothesis
	$(PY) -m pip install --quiet atheris 2>/dev/null || true; $(PY) scripts/fuzz.py --seconds $${FUZZ_SECONDS:-600}

image: $(TEST_STAMP) models  # the appliance image from Debian's archive (root; docs/technician.md): artifacts/image/borderpost-amd64.img
	BORDERPOST_BUILD_PYTHON=$(CURDIR)/$(PY) image_build/debian/build.sh artifacts/image

image-arm64: $(TEST_STAMP) models  # the same for Pi 4-class boards (root; qemu-user-static + binfmt_misc on x86; 1-2 h): artifacts/image/borderpost-arm64.img
	BORDERPOST_ARCH=arm64 BORDERPOST_BUILD_PYTHON=$(CURDIR)/$(PY) image_build/debian/build.sh artifacts/image

image-test: $(TEST_STAMP)  # boots it in QEMU: provisioning, delivery, a power cut (tests/appliance/test_image_boot.py)
	BORDERPOST_IMAGE=$${BORDERPOST_IMAGE:-artifacts/image/borderpost-amd64.img} $(PY) -m pytest -q -rs tests/appliance/test_image_boot.py

bundle:  # a signed RAUC bundle (verity) of the built image's root, for A/B updates (docs/technician.md): artifacts/bundle/
	image_build/rauc/make-bundle.sh $${BORDERPOST_IMAGE:-artifacts/image/borderpost-amd64.img} artifacts/bundle

image-update-test: $(TEST_STAMP)  # A/B updates in QEMU: good bundle into B and blessed, a failing one falls back (4 boots, 33-60 min under TCG; tests/appliance/test_image_update.py)
	BORDERPOST_IMAGE=$${BORDERPOST_IMAGE:-artifacts/image/borderpost-amd64.img} $(PY) -m pytest -q -rs tests/appliance/test_image_update.py
