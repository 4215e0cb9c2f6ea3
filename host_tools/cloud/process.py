"""Run the dev cloud as a separate process (`tempnode cloud serve`) and talk to it.

    with spawn(data_dir, vclock=path) as cloud:
        cloud.info["url"], cloud.info["ca_der"]      # what the first line of output said
        cloud.admin.create_device("logger-01")

The serve command prints one JSON line first (url, bind, port, names, ca_der, ca_pem,
admin_key_file, data_dir, dashboard, vclock, pid) and writes the same to
`DATA_DIR/server.json`. Its request log goes to `DATA_DIR/cloud.log`. `detach=True` starts it
in a session of its own, so it outlives the command that started it (and the terminal's
Ctrl-C); `stop(data_dir)` ends the one serving from a folder, whoever started it.
"""

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..errors import UserError
from . import running
from .admin_client import AdminClient
from .running import DEFAULT_PORT

LOG_FILE = "cloud.log"
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10


class CloudProcess:
    def __init__(self, proc, info):
        self.proc = proc
        self.info = info
        self.admin = AdminClient(
            info["url"], Path(info["admin_key_file"]).read_text().strip(), info["ca_pem"]
        )

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.proc.stdout.closed:
            self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def serve_command(
    data_dir, port=0, vclock=None, memory=False, plain_http=False, bind=None, names=()
):
    """`tempnode cloud serve` on `port`; None: the usual port, or any free one when it is
    taken (the server decides as it binds, so two clouds starting at once cannot both
    take the usual one)."""
    cmd = [sys.executable, "-m", "host_tools.cli", "cloud", "serve", "--data-dir", str(data_dir)]
    cmd += (
        ["--port", str(DEFAULT_PORT), "--any-port-if-taken"]
        if port is None
        else ["--port", str(port)]
    )
    if vclock:
        cmd += ["--vclock", str(vclock)]
    if memory:
        cmd.append("--memory")
    if plain_http:
        cmd.append("--plain-http")
    if bind:
        cmd += ["--bind", bind]
    for name in names:
        cmd += ["--name", name]
    return cmd


def spawn(data_dir, port=0, vclock=None, memory=False, plain_http=False, detach=False, **where):
    """Start `tempnode cloud serve` and wait for its first line; `where`: bind, names."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / LOG_FILE
    logged = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            serve_command(data_dir, port, vclock, memory, plain_http, **where),
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=detach,
        )
    line = _first_line(proc)
    try:
        cloud = CloudProcess(proc, json.loads(line))
    except ValueError:
        proc.kill()
        proc.wait()
        said = log_path.read_text(errors="replace")[logged:].strip().splitlines()
        why = said[-1].removeprefix("tempnode: error: ") if said else "no word from it"
        raise UserError(f"the dev cloud did not start: {why} (log: {log_path})") from None
    if detach:
        proc.stdout.close()  # it outlives this command: nothing more is read from it
    return cloud


def stop(data_dir):
    """Stop the cloud serving from `data_dir`; its server.json, or None when none served."""
    info = running.running_info(data_dir)
    if info is None:
        return None
    pid = int(info["pid"])
    for sig in (signal.SIGTERM, signal.SIGKILL):  # the kernel drops its lock when it ends
        os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while running.serving(data_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not running.serving(data_dir):
            return info
    raise UserError(f"the dev cloud from {data_dir} (pid {pid}) does not stop")


def _first_line(proc):
    deadline = time.monotonic() + START_TIMEOUT_S
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.5):
                return proc.stdout.readline()
            if proc.poll() is not None:
                return ""
    return ""
