"""Running the simulated board (`boards/host/launch.py`) as a process, from CPython tests.

One `Board` is one flash image in a folder, with its virtual clock file; `boot()` runs one boot
(one `micropython` process) and returns what it printed and its exit status.
"""

import importlib.util
import json
import os
import subprocess
import time
from pathlib import Path

from micropython_harness import micropython_binary

REPO = Path(__file__).resolve().parents[1]
LAUNCH = REPO / "boards" / "host" / "launch.py"


def _load_resets():
    # Plain data shared with the board; loaded by path because boards/host also holds modules
    # named like the standard library's (time, socket) that CPython must not pick up.
    spec = importlib.util.spec_from_file_location("board_resets", LAUNCH.with_name("resets.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


resets = _load_resets()


class Board:
    def __init__(self, folder, scenario=None):
        self.folder = Path(folder)
        self.flash = self.folder / "flash.img"
        self.vclock = self.folder / "vclock"
        self.env = {"TEMPNODE_FLASH": str(self.flash), "TEMPNODE_VCLOCK": str(self.vclock)}
        if scenario is not None:
            path = self.folder / "scenario.json"
            path.write_text(json.dumps(scenario))
            self.env["TEMPNODE_SCENARIO"] = str(path)
            self.env["TEMPNODE_SCENARIO_T0_MS"] = str(time.time_ns() // 1_000_000)

    def boot(self, repl="", env=None, timeout=30):
        """One boot; `repl` is what is typed at the REPL after main.py (one statement a line)."""
        return subprocess.run(
            [micropython_binary(), str(LAUNCH)],
            input=repl,
            env=dict(os.environ, **self.env, **(env or {})),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, env=None):
        """A boot left running (stdin open), for a test that kills it."""
        return subprocess.Popen(
            [micropython_binary(), str(LAUNCH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, **self.env, **(env or {})),
            cwd=self.folder,
            text=True,
        )

    def install(self, files):
        """Write `files` ({name: source}) onto the board's flash through its REPL."""
        lines = [
            "f = open(%r, 'w'); f.write(%r); f.close()" % (name, source)
            for name, source in files.items()
        ]
        done = self.boot(repl="\n".join(lines) + "\n")
        assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr

    def stats(self):
        return json.loads(self.flash.with_name("flash.img.stats").read_text())

    def virtual_offset_ms(self):
        return int.from_bytes(self.vclock.read_bytes()[:8], "little", signed=True)
