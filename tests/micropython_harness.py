"""pytest plugin: device-side tests (`tests/device/test_*.py`) run by real MicroPython binaries.

Each `def test_*()` in such a module is one pytest item per interpreter (`test_x[x86_64]`,
`test_x[i386]`: see `tests/interpreters.py`), run in its own interpreter process, in a fresh
temporary directory, with the firmware and the simulated board on its path. `--micropython`
picks the interpreters (default: all three, which `make venv` installs; `armhf` runs the
modules in `ARMHF_MODULES`). `--firmware` picks what
the firmware is: `source` (firmware/*.py, default), or the bundle `tempnode build --board host`
makes, as `.mpy` files on a filesystem (`mpy`, how `tempnode deploy` installs it) or packed in
a ROMFS image mounted at /rom (`romfs`); the tests and the simulated board stay source.
A module may set `HEAPSIZE = "48k"` (the `-X heapsize` cap), `TIMEOUT = 30` (seconds) and
`ENV = {"NAME": "value"}` (environment for the interpreter, e.g. the virtual clock's settings).
A failure shows the MicroPython traceback.
"""

import ast
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from interpreters import INTERPRETERS

from host_tools.build import build, romfs_image

REPO = Path(__file__).resolve().parents[1]
RUNNER = Path(__file__).with_name("micropython_runner.py")
DEFAULT_HEAPSIZE = "512k"
DEFAULT_TIMEOUT = 60
DEFAULT_INTERPRETERS = "x86_64,i386,armhf"
# Under qemu a test takes about 6x as long: armhf runs the sensor, spool and link modules (the
# word-size and instruction-set checks), not the long randomized campaigns, which run on the
# other two (test_sensors_invariant, test_spool_power, the noisy ROM searches of test_onewire).
ARMHF_MODULES = (
    "test_backoff",
    "test_clock",
    "test_cloud_link",
    "test_credential_store",
    "test_device_flow",
    "test_ds18x20",
    "test_http",
    "test_http_memory",
    "test_profiles",
    "test_sensors",
    "test_sensors_heap",
    "test_sensors_noise",
    "test_sensors_scenarios",
    "test_spool",
    "test_spool_reasons",
    "test_tokens",
    "test_uploader",
)


# The interpreter of the end-to-end tests (link, cloud, host board): `--e2e-micropython`.
_e2e_interpreter = "x86_64"


def micropython_binary(name=None):
    """The path of interpreter `name` (see `tests/interpreters.py`), installed by `make venv`;
    by default the end-to-end tests' one."""
    interpreter = INTERPRETERS[name or _e2e_interpreter]
    if not interpreter.installed():
        pytest.fail(f"no {interpreter.path}: run `make venv`")
    return str(interpreter.path)


FIRMWARE_LAYOUTS = ("source", "mpy", "romfs")


class Firmware:
    """Where the device tests get the firmware from (`--firmware`); a bundle is built once."""

    def __init__(self, layout):
        self.layout = layout
        self.root = REPO / "firmware"
        self.romfs = None
        self._scratch = None
        if layout != "source":
            self._scratch = Path(tempfile.mkdtemp(prefix="tempnode-bundle-"))
            self.root, _ = build("host", out_root=self._scratch)
        if layout == "romfs":
            self.romfs = self._scratch / "firmware.romfs"
            self.romfs.write_bytes(romfs_image(self.root))

    def close(self):
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def path(self, test_dir):
        """MICROPYPATH for a device test: its own folder, the firmware, the simulated board."""
        entries = [test_dir, self.root, REPO / "boards" / "host", ".frozen"]
        if self.romfs is not None:
            entries.remove(self.root)  # the runner mounts the image and puts /rom first
        return os.pathsep.join(str(e) for e in entries)

    def env(self):
        return {"TEMPNODE_TEST_ROMFS": str(self.romfs)} if self.romfs is not None else {}

    def heap_bytes(self, heapsize):
        """The `-X heapsize` for a test's cap: the ROMFS image's buffer comes on top."""
        unit = {"k": 1024, "m": 1024 * 1024}.get(heapsize[-1].lower(), 1)
        size = int(heapsize.rstrip("kKmM")) * unit
        return size + (self.romfs.stat().st_size if self.romfs is not None else 0)

    def describe(self):
        if self.layout == "source":
            return "the firmware's source"
        what = "a ROMFS image of" if self.romfs is not None else "the .mpy files of"
        return f"{what} `tempnode build --board host`"


def interpreter_version(name):
    probe = (
        "import sys; v = sys.implementation.version; "
        "print('MicroPython %d.%d.%d%s, %d-bit, sys.version %s' % (v[0], v[1], v[2], "
        "'-' + v[3] if len(v) > 3 and v[3] else '', 64 if sys.maxsize > 2**32 else 32, "
        "sys.version))"
    )
    out = subprocess.run(
        [micropython_binary(name), "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def pytest_addoption(parser):
    parser.addoption(
        "--micropython",
        default=DEFAULT_INTERPRETERS,
        help=f"comma-separated interpreters for device tests, of {', '.join(INTERPRETERS)} "
        f"(default {DEFAULT_INTERPRETERS})",
    )
    parser.addoption(
        "--firmware",
        default="source",
        choices=FIRMWARE_LAYOUTS,
        help="the firmware the device tests run: its source, or the built bundle as .mpy "
        "files or in a ROMFS image (default source)",
    )

    parser.addoption(
        "--e2e-micropython",
        default="x86_64",
        choices=tuple(INTERPRETERS),
        help="the interpreter of the end-to-end tests that start `micropython` themselves "
        "(default x86_64)",
    )


def pytest_configure(config):
    global _e2e_interpreter
    _e2e_interpreter = config.getoption("--e2e-micropython")
    config.tempnode_firmware = Firmware(config.getoption("--firmware"))


def pytest_unconfigure(config):
    firmware = getattr(config, "tempnode_firmware", None)
    if firmware is not None:
        firmware.close()


def chosen_interpreters(config):
    names = [n.strip() for n in config.getoption("--micropython").split(",") if n.strip()]
    unknown = [n for n in names if n not in INTERPRETERS]
    if unknown or not names:
        raise pytest.UsageError(f"--micropython: choose from {', '.join(INTERPRETERS)}")
    return names


def pytest_report_header(config):
    lines = [f"device tests run {config.tempnode_firmware.describe()}, by:"]
    for name in chosen_interpreters(config):
        interpreter = INTERPRETERS[name]
        packages = ", ".join(interpreter.packages())
        lines.append(
            f"  [{name}] {interpreter_version(name)} ({interpreter.origin}; {interpreter.path}"
            + (f"; {packages})" if packages else ")")
        )
    return lines


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path, parent):
    """Test modules in a `device/` folder are MicroPython code: never import them in CPython."""
    if module_path.parent.name == "device":
        return DeviceModule.from_parent(parent, path=module_path)
    return None


def module_constant(tree, name, default):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    return default


class DeviceModule(pytest.File):
    def collect(self):
        tree = ast.parse(self.path.read_text(), filename=str(self.path))
        heapsize = module_constant(tree, "HEAPSIZE", DEFAULT_HEAPSIZE)
        timeout = module_constant(tree, "TIMEOUT", DEFAULT_TIMEOUT)
        extra_env = module_constant(tree, "ENV", {})
        interpreters = [
            name
            for name in chosen_interpreters(self.config)
            if name != "armhf" or self.path.stem in ARMHF_MODULES
        ]
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                for interpreter in interpreters:
                    yield DeviceItem.from_parent(
                        self,
                        name=f"{node.name}[{interpreter}]",
                        function_name=node.name,
                        interpreter=interpreter,
                        lineno=node.lineno,
                        heapsize=heapsize,
                        timeout=timeout,
                        extra_env=extra_env,
                    )


class DeviceTestFailure(Exception):
    pass


class DeviceItem(pytest.Item):
    def __init__(
        self, *, function_name, interpreter, lineno, heapsize, timeout, extra_env, **kwargs
    ):
        super().__init__(**kwargs)
        self.function_name = function_name
        self.interpreter = interpreter
        self.extra_env = extra_env
        self.lineno = lineno
        self.heapsize = heapsize
        self.timeout = timeout

    def runtest(self):
        firmware = self.config.tempnode_firmware
        env = dict(
            os.environ,
            MICROPYPATH=firmware.path(self.path.parent),
            **firmware.env(),
            **self.extra_env,
        )
        cmd = [
            micropython_binary(self.interpreter),
            "-X",
            f"heapsize={firmware.heap_bytes(self.heapsize)}",
            str(RUNNER),
            self.path.stem,
            self.function_name,
        ]
        with tempfile.TemporaryDirectory(prefix="tempnode-device-") as workdir:
            try:
                proc = subprocess.run(
                    cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=self.timeout
                )
            except subprocess.TimeoutExpired as exc:
                output = (exc.stdout or b"").decode(errors="replace")
                raise DeviceTestFailure(
                    f"timed out after {self.timeout} s under micropython [{self.interpreter}]\n"
                    f"{output}"
                ) from None
        output = proc.stdout + proc.stderr
        if proc.returncode != 0 or not proc.stdout.rstrip().endswith("PASS"):
            raise DeviceTestFailure(
                f"micropython [{self.interpreter}] exit status {proc.returncode}\n{output}"
            )

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, DeviceTestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, self.lineno - 1, f"{self.function_name} [micropython {self.interpreter}]"
