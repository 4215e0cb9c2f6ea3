"""Fixtures for host-tool tests: a device folder and a virtual board to deploy it to."""

import subprocess

import pytest

from host_tools.cli import main
from host_tools.virtual_board import VirtualBoard

WIFI_PASSWORD = "hunter2-wifi-pass"
CLIENT_SECRET = "cs-7f3a9d2e-never-print"


@pytest.fixture(scope="session")
def ca_pem(tmp_path_factory):
    """A throwaway CA certificate (PEM), made by openssl."""
    folder = tmp_path_factory.mktemp("ca")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-keyout", str(folder / "ca.key"), "-out", str(folder / "ca.pem")]
        + ["-days", "30", "-subj", "/CN=tempnode test CA"],
        check=True,
        capture_output=True,
    )
    return folder / "ca.pem"


def init_args(folder, ca_pem, board="host", **extra):
    args = ["init", "--dir", str(folder), "--board", board, "--device-id", "logger-01"]
    args += ["--wifi", f"home={WIFI_PASSWORD}", "--profile", "particle"]
    args += ["--base-url", "https://localhost:8443", "--client-id", "tempnode"]
    args += ["--client-secret", CLIENT_SECRET, "--ca", str(ca_pem)]
    args += ["--sensor", "28ff4a1b02170345=tank", "--sensor", "28ff4a1b02170346=pipe:10"]
    for flag, value in extra.items():
        args += [f"--{flag.replace('_', '-')}", value]
    return args


@pytest.fixture
def device_folder(tmp_path, ca_pem):
    folder = tmp_path / "logger-01"
    assert main(init_args(folder, ca_pem)) == 0
    return folder


@pytest.fixture
def board(tmp_path):
    with VirtualBoard(tmp_path / "board-fs") as virtual:
        yield virtual


def wait_for_console(board, text, timeout=10):
    """True once the virtual board has printed `text`."""
    import time

    deadline = time.monotonic() + timeout
    while text not in board.console and time.monotonic() < deadline:
        time.sleep(0.05)
    return text in board.console


class Terminal:
    """A command run on a pseudo-terminal, as in a person's terminal: keys in, screen out."""

    def __init__(self, argv, **popen):
        import os
        import pty
        import subprocess

        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, **popen)
        os.close(slave)
        self.seen = b""

    def read_until(self, text, timeout=15):
        import os
        import select
        import time

        deadline = time.monotonic() + timeout
        while text not in self.seen and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:  # the command ended and closed the terminal
                    break
        return text in self.seen

    def type(self, keys):
        import os

        os.write(self.master, keys)

    def close(self):
        import os

        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
