"""Run the dev cloud as a separate process (`tempnode cloud serve`) and talk to it.

    with spawn(data_dir, vclock=path) as cloud:
        cloud.info["url"], cloud.info["ca_der"]      # what the first line of output said
        cloud.admin.create_device("logger-01")

The serve command prints one JSON line first (url, ca_der, ca_pem, admin_key_file, data_dir,
dashboard, vclock, pid) and writes the same to `DATA_DIR/server.json`. Its request log goes
to `DATA_DIR/cloud.log`.
"""

import json
import selectors
import subprocess
import sys
import time
from pathlib import Path

from ..errors import UserError
from .admin_client import AdminClient

LOG_FILE = "cloud.log"
START_TIMEOUT_S = 30


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
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def serve_command(data_dir, port=0, vclock=None, memory=False, plain_http=False):
    cmd = [
        sys.executable,
        "-m",
        "host_tools.cli",
        "cloud",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    if vclock:
        cmd += ["--vclock", str(vclock)]
    if memory:
        cmd.append("--memory")
    if plain_http:
        cmd.append("--plain-http")
    return cmd


def spawn(data_dir, port=0, vclock=None, memory=False, plain_http=False):
    """Start `tempnode cloud serve` and wait for its first line."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOG_FILE, "ab") as log:
        proc = subprocess.Popen(
            serve_command(data_dir, port, vclock, memory, plain_http),
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    line = _first_line(proc)
    try:
        return CloudProcess(proc, json.loads(line))
    except ValueError:
        proc.kill()
        proc.wait()
        raise UserError(
            f"the dev cloud did not start (see {data_dir / LOG_FILE}): {line.strip()!r}"
        ) from None


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
