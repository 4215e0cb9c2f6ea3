# Shared by the spool tests: sensor readings as the sensor bank gives them, and reboots on a
# simulated flash chip.
import os

from devtest import mount_sim_flash, unmount
from sim_flash import SimFlash
from tempnode.clock import Clock
from tempnode.sensors import Reading
from tempnode.spool import Spool

ROMS = (
    bytes.fromhex("28ff4a1b02170345"),
    bytes.fromhex("28ff4a1b02170346"),
    bytes.fromhex("1000000001020304"),
    bytes.fromhex("3b00000001020305"),
)
LABELS = ("tank", "boiler", "", "flue")


def cycle(n, first_value=0, error_every=0):
    """`n` readings (one per sensor, cycling), with c16 values first_value, first_value+1, ...;
    every `error_every`-th one is a CRC error instead."""
    readings = []
    for i in range(n):
        r = Reading(ROMS[i % len(ROMS)], LABELS[i % len(LABELS)] or None)
        if error_every and i % error_every == error_every - 1:
            r.error = "crc"
        else:
            r.c16 = first_value + i
        readings.append(r)
    return readings


class Board:
    """A littlefs flash that can be rebooted: every `boot()` remounts what is on the chip and
    opens the spool with a fresh clock (the monotonic count restarts, the wall time is unknown)."""

    def __init__(self, capacity=1000, block_size=4096, block_count=64, image=None):
        self.capacity = capacity
        self.flash = SimFlash(block_size, block_count, image)
        self.mounted = False
        self.boot()

    def boot(self, image=None):
        if self.mounted:
            unmount()
        if image is not None or self.mounted:
            self.flash = SimFlash(
                self.flash.block_size,
                self.flash.block_count,
                self.flash.data if image is None else image,
            )
        mount_sim_flash(self.flash)
        self.mounted = True
        self.clock = Clock()
        self.spool = Spool("spool", self.capacity, self.clock)
        return self.spool

    def shut_down(self):
        unmount()
        self.mounted = False


def all_pending(spool):
    return spool.peek_batch(1 << 30)


def seqs(batch):
    return [r["seq"] for r in batch]


def free_blocks():
    return os.statvfs(".")[3]
