"""Simulated flash chip for the host board: a block device littlefs can be mounted on.

It counts block writes and erases (flash wear) and can cut the power at any write: that write
is left half done, as a real interrupted program is, and every later access fails the same way
(code still running on a dying board, such as a `finally` closing a file, changes nothing the
next boot finds). The image lives
in RAM (tests) or, with `SimFlash.open`, in a host file that every write and erase goes to at
once, so a SIGKILL keeps exactly what was written; it is then never held in the Python heap, so
the board's heap figures are the firmware's own.
The block protocol is MicroPython's extended one (docs: "os -- Block devices"):
`readblocks`/`writeblocks` with an offset, `ioctl` 4 (count), 5 (size), 6 (erase).
"""

import io
import os

_IOCTL_BLOCK_COUNT = 4
_IOCTL_BLOCK_SIZE = 5
_IOCTL_BLOCK_ERASE = 6


class PowerCut(Exception):
    """Raised by the write that the power cut interrupted."""


def _raise_power_cut():
    raise PowerCut("power cut during a flash write")


class SimFlash:
    """`image`: the chip's bytes (blank, all 0xFF, when None); `store`: a file holding them."""

    def __init__(self, block_size=4096, block_count=256, image=None, store=None):
        self.block_size = block_size
        self.block_count = block_count
        if store is None:
            store = io.BytesIO(image if image is not None else _blank(block_size * block_count))
        self._store = store
        self._erased = _blank(block_size)
        self.writes = 0
        self.erases = 0
        self.powered = True
        self._writes_until_cut = -1
        self._on_cut = _raise_power_cut

    @classmethod
    def open(cls, path, block_size, block_count):
        """Write-through flash in host file `path`, created blank (erased) when missing."""
        try:
            os.stat(path)
        except OSError:
            with open(path, "wb") as f:
                blank = _blank(block_size)
                for _ in range(block_count):
                    f.write(blank)
        return cls(block_size, block_count, store=open(path, "r+b"))

    @property
    def data(self):
        """A copy of the whole image."""
        self._store.seek(0)
        return self._store.read()

    def cut_power_after(self, writes, on_cut=None):
        """The `writes`+1-th write from now is interrupted half way; then that write and every
        later access call `on_cut()`, which must raise (default: PowerCut)."""
        self._writes_until_cut = writes
        self._on_cut = on_cut or _raise_power_cut

    def power_off(self, on_access=None):
        """No power from now on: every access calls `on_access()`, which must raise
        (default: PowerCut)."""
        self.powered = False
        self._on_cut = on_access or _raise_power_cut

    def readblocks(self, block, buf, offset=0):
        self._require_power()
        self._store.seek(block * self.block_size + offset)
        self._store.readinto(buf)

    def writeblocks(self, block, buf, offset=None):
        self._require_power()
        self._store.seek(block * self.block_size + (offset or 0))
        if self._writes_until_cut == 0:
            self.powered = False
            buf = memoryview(buf)[: len(buf) // 2]
        elif self._writes_until_cut > 0:
            self._writes_until_cut -= 1
        # A host file written here is in the OS at once (MicroPython's posix files are not
        # buffered), which is what a SIGKILL spares; no fsync: the host's own power is not ours.
        self._store.write(buf)
        self._require_power()
        self.writes += 1

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.block_count
        if op == _IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == _IOCTL_BLOCK_ERASE:
            self._require_power()
            self._store.seek(arg * self.block_size)
            self._store.write(self._erased)
            self.erases += 1
            return 0
        return None

    def _require_power(self):
        if not self.powered:
            self._on_cut()


def _blank(size):
    return b"\xff" * size
