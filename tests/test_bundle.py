"""The `.mpy` bundle `tempnode build` makes, run by every MicroPython version the project has.

mpy-cross 1.29 emits mpy v6.3, which MicroPython reads from 1.23 on. The firmware also needs
the `tls` and `vfs` modules (1.23 on), so 1.23 is the oldest version it supports:

- 1.25.0 (Debian's i386 build) and 1.29-preview (the PyPI unix port): the whole device suite
  but its long randomized campaigns runs on the bundle, as `.mpy` files on a filesystem (how
  `tempnode deploy` installs it) on 1.25.0 and from a ROMFS image on 1.29-preview (both unix
  builds have `vfs.VfsRom`; of the boards, only builds made with a ROMFS partition do).
- 1.23.0, the webassembly port from npm (the only 1.23 build to be had): it has no sockets,
  no TLS and no littlefs, so the link and the spool cannot run there; the device tests of
  the modules that need none of them run on the bundle.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from interpreters import WASM_1_23
from micropython_harness import module_constant

from host_tools.build import build

REPO = Path(__file__).resolve().parents[1]
DEVICE_TESTS = REPO / "tests" / "device"
# (layout, interpreter): each version and each layout once, as `.mpy` files (what boards run)
# on 1.25.0, the older, and from ROMFS on 1.29-preview (armhf is 1.25.0 again). All four
# combinations pass; the suite runs two of them, at once, one per core.
BUNDLE_RUNS = (("mpy", "i386"), ("romfs", "x86_64"))
# Left out on the bundle: the long randomized campaigns (they would only repeat the same code
# for 40 s more), and a test of the source's own version string (a build writes its own).
LEFT_OUT = (
    "test_every_number_on_long_noisy_random_runs_is_a_conversion_of_its_cycle",
    "test_power_cut_at_every_flash_write_loses_and_duplicates_nothing",
    "test_power_cut_at_every_flash_write_while_dropping_for_capacity",
    "test_the_batch_facts_name_the_running_firmware",
)
# Device test modules that need no socket, TLS, littlefs or exact heap figures (the
# webassembly port's heap grows by itself and its collections are deferred).
MODULES_ON_1_23 = (
    "test_backoff",
    "test_clock",
    "test_config",
    "test_ds18x20",
    "test_onewire",
    "test_redact",
    "test_sensors",
    "test_sensors_scenarios",
)


@pytest.fixture(scope="module")
def bundle_runs():
    """The device suite on the bundle, both runs at once (one per core)."""
    runs = {
        layout: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                str(DEVICE_TESTS),
                f"--firmware={layout}",
                f"--micropython={interpreter}",
                "-k",
                "not (" + " or ".join(LEFT_OUT) + ")",
                "-p",
                "no:cacheprovider",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for layout, interpreter in BUNDLE_RUNS
    }
    yield {layout: proc.communicate(timeout=600)[0] for layout, proc in runs.items()}


def device_test_count():
    """The device tests but those left out."""
    functions = [f for path in DEVICE_TESTS.glob("test_*.py") for f in device_functions(path.stem)]
    return sum(f["function"] not in LEFT_OUT for f in functions)


def device_functions(module):
    tree = ast.parse((DEVICE_TESTS / f"{module}.py").read_text())
    env = module_constant(tree, "ENV", {})
    return [
        {"module": module, "function": node.name, "env": env}
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


@pytest.mark.parametrize("layout", ["mpy", "romfs"])
def test_every_device_test_passes_on_the_bundle_on_1_25_and_1_29(bundle_runs, layout):
    output = bundle_runs[layout]
    expected = device_test_count()
    assert f"{expected} passed" in output.splitlines()[-1], output[-6000:]
    what = "a ROMFS image of" if layout == "romfs" else "the .mpy files of"
    assert f"device tests run {what} `tempnode build --board host`, by:" in output


def test_micropython_1_23_runs_the_bundle_s_sensor_clock_and_config_tests(tmp_path):
    if not (WASM_1_23 / "micropython.mjs").exists():
        pytest.fail(f"no {WASM_1_23}: run `make venv`")
    assert json.loads((WASM_1_23 / "package.json").read_text())["version"] == "1.23.0"
    firmware, _ = build("host", out_root=tmp_path)
    tests = [t for module in MODULES_ON_1_23 for t in device_functions(module)]
    proc = subprocess.run(
        [
            "node",
            str(REPO / "tests" / "wasm_runner.mjs"),
            str(WASM_1_23),
            str(firmware),
            str(REPO / "boards" / "host"),
            str(REPO / "tests"),
        ],
        input=json.dumps(tests),
        capture_output=True,
        text=True,
        timeout=300,
    )
    passed = [line for line in proc.stdout.splitlines() if line.startswith("PASS ")]
    assert proc.returncode == 0 and len(passed) == len(tests), proc.stdout[-6000:] + proc.stderr
