"""Simulated flash chip for the host board: a block device littlefs can be mounted on.

It counts block writes and erases (flash wear), can cut the power at any write (the write is
left half done, as a real interrupted program is), and can be kept in a host file between runs.
The block protocol is MicroPython's extended one (docs: "os -- Block devices"):
`readblocks`/`writeblocks` with an offset, `ioctl` 4 (count), 5 (size), 6 (erase).
"""

import os

_IOCTL_BLOCK_COUNT = 4
_IOCTL_BLOCK_SIZE = 5
_IOCTL_BLOCK_ERASE = 6


class PowerCut(Exception):
    """Raised by the write that the power cut interrupted."""


class SimFlash:
    def __init__(self, block_size=4096, block_count=256, image=None):
        self.block_size = block_size
        self.block_count = block_count
        self.data = (
            bytearray(image)
            if image is not None
            else bytearray(b"\xff" * (block_size * block_count))
        )
        self.writes = 0
        self.erases = 0
        self._writes_until_cut = -1

    @classmethod
    def load(cls, path, block_size=4096):
        with open(path, "rb") as f:
            image = f.read()
        return cls(block_size, len(image) // block_size, image)

    def save(self, path):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(self.data)
        os.rename(tmp, path)

    def cut_power_after(self, writes):
        """The `writes`+1-th write from now is interrupted half way and raises PowerCut."""
        self._writes_until_cut = writes

    def readblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        buf[:] = self.data[start : start + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        start = block * self.block_size + (offset or 0)
        if self._writes_until_cut == 0:
            self._writes_until_cut = -1
            half = len(buf) // 2
            self.data[start : start + half] = buf[:half]
            raise PowerCut("power cut during a flash write")
        if self._writes_until_cut > 0:
            self._writes_until_cut -= 1
        self.data[start : start + len(buf)] = buf
        self.writes += 1

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.block_count
        if op == _IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == _IOCTL_BLOCK_ERASE:
            start = arg * self.block_size
            self.data[start : start + self.block_size] = b"\xff" * self.block_size
            self.erases += 1
            return 0
        return None
