"""The README's practice-board path, run as a newcomer runs it: the commands are read out of
the README's block (so the two cannot drift apart) and run one by one in a shell, from a
fresh folder, with a fresh data home and `.venv/bin` on the PATH as `source
.venv/bin/activate` puts it there. What a person does between the commands is done here too:
approve the device-flow code, watch the logs for a while and press Ctrl-C, type at the REPL,
turn the practice board off."""

import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest
from board_fixtures import Terminal

from host_tools.paths import REPO

README = REPO / "README.md"
MARKER = "<!-- practice path:"
VENV_BIN = REPO / ".venv" / "bin"


def readme_commands():
    """The block after the marker, continuation lines joined, trailing comments dropped."""
    text = README.read_text()
    block = text[text.index(MARKER) :].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        command = re.sub(r"\s+#.*$", "", line).strip()
        if command:
            commands.append(re.sub(r"\s+", " ", command))
    return commands


class Output:
    """What a background command printed so far (a thread reads it as it comes)."""

    def __init__(self, proc):
        self.proc = proc
        self.text = ""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.text += line

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text)
            if found:
                return found
            if self.proc.poll() is not None:
                self._thread.join(timeout=5)
                return re.search(pattern, self.text)
            time.sleep(0.1)
        return None


class Newcomer:
    """A shell in a fresh folder, with the README's commands and what a person does."""

    def __init__(self, tmp_path):
        self.cwd = tmp_path / "work"
        self.cwd.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPNODE_")}
        self.env = env | {
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "PATH": f"{VENV_BIN}:{env['PATH']}",
        }
        self.jobs = []  # what `&` started, for `kill %1`
        self.provisioning = None
        self.code = None
        self.said = {}

    def start(self, command):
        proc = subprocess.Popen(
            ["bash", "-c", "exec " + command],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return Output(proc)

    def run(self, command, timeout=120):
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        out = done.stdout + done.stderr
        assert done.returncode == 0, f"`{command}` exited {done.returncode}:\n{out}"
        return out

    def follow_then_ctrl_c(self, command, pattern, timeout=60):
        """`logs`/`run`: watch until `pattern` shows, then Ctrl-C, as a person would."""
        output = self.start(command)
        found = output.wait_for(pattern, timeout)
        output.proc.send_signal(signal.SIGINT)
        assert output.proc.wait(timeout=15) == 0, output.text
        assert found, f"`{command}` never showed {pattern!r}:\n{output.text}"
        return output.text

    def do(self, command):
        words = command.split()
        if command.endswith("&"):
            job = self.start(command[:-1].strip())
            self.jobs.append(job)
            assert job.wait_for(r"commands reach it with --port practice", 60), job.text
            return job.text
        if command == "kill %1":
            job = self.jobs.pop(0)
            job.proc.send_signal(signal.SIGTERM)
            assert job.proc.wait(timeout=15) == 0, job.text
            return job.text
        if words[1] == "provision":
            self.provisioning = self.start(command)
            found = self.provisioning.wait_for(r"enter the code (\S+)", 60)
            assert found, self.provisioning.text
            self.code = found.group(1)
            return self.provisioning.text
        if "CODE" in words:
            out = self.run(command.replace("CODE", self.code))
            assert self.provisioning.proc.wait(timeout=60) == 0, self.provisioning.text
            return out + self.provisioning.text
        if words[1] == "logs":
            return self.follow_then_ctrl_c(command, r"tempnode: Wi-Fi joined practice-wifi")
        if words[1] == "run":
            return self.follow_then_ctrl_c(command, r"tempnode: (logging every 5 s|Wi-Fi joined)")
        if words[1] == "repl":
            return self.repl(command)
        if words[1:3] == ["cloud", "readings"]:
            return self.readings(command)
        return self.run(command)

    def readings(self, command, timeout=60):
        """Ask until the board's first upload has arrived (every 10 s, after Wi-Fi)."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.run(command)
            stored = json.loads(out)
            if any(r["label"] == "indoor" and r["c"] is not None for r in stored):
                return out
            assert time.monotonic() < deadline, f"no reading from indoor arrived: {out}"
            time.sleep(2)

    def repl(self, command):
        terminal = Terminal(["bash", "-c", "exec " + command], cwd=self.cwd, env=self.env)
        try:
            assert terminal.read_until(b"Use Ctrl-] or Ctrl-x to exit this shell")
            time.sleep(1)  # a person reads the banner before typing
            terminal.type(b"\x03")  # Ctrl-C: the logger stops, the REPL is ours
            assert terminal.read_until(b">>> "), terminal.seen
            assert b"tempnode: stopped (Ctrl-C)" in terminal.seen, terminal.seen
            terminal.type(b"import tempnode; tempnode.read()\r")
            assert terminal.read_until(b"indoor", timeout=20), terminal.seen
            terminal.type(b"\x1d")  # Ctrl-]: leave
            assert terminal.proc.wait(timeout=15) == 0
            return terminal.seen.decode(errors="replace")
        finally:
            terminal.close()

    def stop_everything(self):
        started = self.jobs + ([self.provisioning] if self.provisioning else [])
        for job in started:
            if job.proc.poll() is None:
                job.proc.terminate()
                job.proc.wait(timeout=15)
        subprocess.run(
            ["bash", "-c", "tempnode cloud stop"], cwd=self.cwd, env=self.env, timeout=60
        )


def test_activating_the_venv_puts_tempnode_on_the_path():
    found = subprocess.run(
        ["bash", "-c", "source .venv/bin/activate && command -v tempnode"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        | {"PATH": "/usr/bin:/bin"},
    )
    assert found.stdout.strip() == str(VENV_BIN / "tempnode"), found.stderr


@pytest.mark.timeout(600)
def test_the_readme_practice_path_works_command_by_command(tmp_path):
    commands = readme_commands()
    assert commands[0] == "tempnode cloud start" and commands[-1] == "tempnode cloud stop"
    person = Newcomer(tmp_path)
    said = []
    try:
        for command in commands:
            said.append((command, person.do(command)))
    finally:
        person.stop_everything()
    out = dict(said)
    init = next(o for c, o in said if c.startswith("tempnode init"))
    # init's next steps are the README's order: deploy, then provision, then run.
    steps = re.search(r"next: (.*)", init).group(1)
    assert re.findall(r"tempnode (\w+)", steps) == ["deploy", "provision", "run"]
    order = [c.split()[1] for c in commands if c.split()[1] in ("deploy", "provision", "run")]
    assert order == ["deploy", "provision", "run"]
    assert "valid for board host" in out["tempnode validate --dir logger-01"]
    assert "deployed to" in out["tempnode deploy --dir logger-01"]
    assert "stored a refresh_token credential" in out["tempnode cloud approve CODE"]
    status = out["tempnode status --dir logger-01"]
    assert re.search(r"cloud\.credential\s+refresh_token", status), status
    # Real time: seconds of uptime since provision's soft reset, not a racing virtual clock.
    assert int(re.search(r"uptime_s\s+(\d+)", status).group(1)) < 60, status
    assert "0 copied" in out["tempnode run --dir logger-01"]  # nothing changed since deploy
    assert "stopped the dev cloud" in out["tempnode cloud stop"]
