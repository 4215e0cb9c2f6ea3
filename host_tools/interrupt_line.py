"""The host's end of a simulated board's Ctrl-C line (`boards/host/interrupt_line.py`).

A file of two little-endian 32-bit counts: the Ctrl-Cs sent (written here) and taken (written
by the board when it raises one as KeyboardInterrupt). Each side writes only its own count.
"""

import os
import signal
import struct
import tempfile
import time

_COUNT = struct.Struct("<I")
# A Ctrl-C not taken by then is code that calls no `time` function (a busy loop typed at the
# REPL): only a SIGINT stops that.
SIGNAL_AFTER_S = 2.0


class InterruptLine:
    """The line in the file at `path` (made or emptied), or in a temporary file of its own,
    removed by `close()`."""

    def __init__(self, path=None):
        self._own = path is None
        if self._own:
            fd, path = tempfile.mkstemp(prefix="tempnode-interrupt-")
            os.close(fd)
        self.path = str(path)
        self._write(bytes(8))

    @property
    def env(self):
        """What the board's process needs in its environment to listen."""
        return {"TEMPNODE_INTERRUPT": self.path}

    def _write(self, data):
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, data, 0)  # the sent count (the board writes the taken one)
        finally:
            os.close(fd)

    def _counts(self):
        with open(self.path, "rb") as f:
            data = f.read(8)
        return _COUNT.unpack_from(data, 0)[0], _COUNT.unpack_from(data, 4)[0]

    def send(self):
        sent, _ = self._counts()
        self._write(_COUNT.pack(sent + 1))

    def taken(self):
        """True when the board has raised every Ctrl-C sent."""
        sent, taken = self._counts()
        return taken == sent

    def withdraw(self):
        """Take back a Ctrl-C the board has not raised (it is at its REPL, or gone)."""
        sent, taken = self._counts()
        if sent != taken:
            self._write(_COUNT.pack(taken))

    def interrupt(self, proc):
        """Stop the code `proc` runs, as a Ctrl-C does; return once it has taken it or ended."""
        self.send()
        deadline = time.monotonic() + SIGNAL_AFTER_S
        while proc.poll() is None and not self.taken():
            if time.monotonic() >= deadline:
                self.withdraw()
                proc.send_signal(signal.SIGINT)
                return
            time.sleep(0.01)

    def close(self):
        if self._own:
            os.unlink(self.path)
