"""A few counters that must survive resets and deep sleep but not a power cut.

They live in RTC memory where the board has it (`board.json` `rtc_memory_bytes`): that memory
survives `machine.reset()` and deep sleep and is cleared on power-on, which is what a
"quick reboots" counter wants (a power cut is not a crash loop). Boards without it (Pico W)
keep them in a small file instead (one flash write per boot or wake).
"""

import struct

from micropython import const

from tempnode import atomic

_MAGIC = const(0x544E)  # "TN"
_FORMAT = "<HBHB"  # magic, quick reboots, deep-sleep wakes since the last upload, RTC set
_SIZE = const(6)
_FILE = "boot_state.bin"


class BootState:
    def __init__(self, rtc_memory_bytes):
        self._rtc = None
        if rtc_memory_bytes >= _SIZE:
            import machine

            self._rtc = machine.RTC()
        self.quick_reboots = 0
        self.wakes = 0
        # The RTC was set from a trusted time source and has run since (RTC memory and the RTC
        # share their power domain: a power cut clears both). Never true without RTC memory.
        self.rtc_set = False
        self._load()

    def _read(self):
        if self._rtc is not None:
            return self._rtc.memory()
        return atomic.read_bytes(_FILE)

    def _load(self):
        raw = self._read()
        if raw and len(raw) >= _SIZE:
            magic, quick, wakes, rtc_set = struct.unpack(_FORMAT, raw[:_SIZE])
            if magic == _MAGIC:
                self.quick_reboots = quick
                self.wakes = wakes
                self.rtc_set = bool(rtc_set) and self._rtc is not None

    def keeps_rtc(self):
        """True when this board can tell that its RTC kept running (RTC memory survived)."""
        return self._rtc is not None

    def save(self):
        raw = struct.pack(
            _FORMAT, _MAGIC, min(self.quick_reboots, 255), min(self.wakes, 65535), self.rtc_set
        )
        if self._rtc is not None:
            self._rtc.memory(raw)
        else:
            atomic.write_bytes(_FILE, raw)
