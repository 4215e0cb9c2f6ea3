"""`tempnode logs` and `tempnode repl`: the board's serial console, without resetting it.

`logs` only listens (nothing is sent, so the running firmware is not interrupted) and masks
any value from the folder's secrets.json that the board might print. `repl` is mpremote's
terminal (Ctrl-] or Ctrl-x leaves it).
"""

import argparse
import sys
import time

from mpremote.main import State
from mpremote.repl import do_repl

from .deploy import secret_values
from .device import add_board_arguments, open_serial
from .validate import SECRETS, default_port, read_json

MASK = b"[secret]"


class Masker:
    """Hides secret values in a byte stream, also when one is split across reads."""

    def __init__(self, values):
        self.values = sorted(values, key=len, reverse=True)
        self.keep = max((len(v) for v in self.values), default=1) - 1
        self.pending = b""

    def feed(self, data):
        """Masked bytes safe to show now; only a tail that may start a secret is held back
        (a line is shown as soon as it ends, not when more output pushes it out)."""
        text = self.pending + data
        for value in self.values:
            text = text.replace(value, MASK)
        cut = len(text) - self._secret_start_at_end(text)
        self.pending = text[cut:]
        return text[:cut]

    def _secret_start_at_end(self, text):
        """The length of the longest end of `text` that begins some secret."""
        for n in range(min(self.keep, len(text)), 0, -1):
            tail = text[-n:]
            if any(value.startswith(tail) for value in self.values):
                return n
        return 0

    def flush(self):
        out, self.pending = self.pending, b""
        return out


def folder_secrets(folder):
    path = folder / SECRETS
    return secret_values(read_json(path)) if path.exists() else []


def follow(port, folder, seconds=None, out=sys.stdout.buffer):
    """Copy the console to `out` until Ctrl-C (or for `seconds`)."""
    transport = open_serial(port)
    # What a port held before it was opened is stale (a board's USB-serial bridge drops what
    # nobody reads; a pty keeps it): the console starts now.
    transport.serial.reset_input_buffer()
    masker = Masker(folder_secrets(folder))
    print(f"following {transport.device_name} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            waiting = transport.serial.in_waiting
            data = transport.serial.read(waiting) if waiting else b""
            if data:
                out.write(masker.feed(data))
                out.flush()
            else:
                time.sleep(0.02)
    except KeyboardInterrupt:
        pass
    finally:
        out.write(masker.flush())
        out.flush()
        transport.close()


def run_logs(args):
    follow(default_port(args), args.dir, args.seconds)


def run_repl(args):
    state = State()
    state.transport = open_serial(default_port(args))
    try:
        options = argparse.Namespace(
            escape_non_printable=False, capture=None, inject_code=None, inject_file=None
        )
        do_repl(state, options)
    finally:
        state.transport.close()


def add_follow_arguments(parser):
    add_board_arguments(parser)
    parser.add_argument("--seconds", type=float, help="stop following after this long")


def register(subparsers):
    p = subparsers.add_parser("logs", help="follow the board's console without resetting it")
    add_follow_arguments(p)
    p.set_defaults(func=run_logs)
    p = subparsers.add_parser("repl", help="the board's interactive REPL (mpremote's terminal)")
    add_board_arguments(p)
    p.set_defaults(func=run_repl)
