"""A few counters that must survive resets and deep sleep but not a power cut.

They live in RTC memory where the board has it (`board.json` `rtc_memory_bytes`): that memory
survives `machine.reset()` and deep sleep and is cleared on power-on, which is what a
"quick reboots" counter wants (a power cut is not a crash loop). Boards without it (Pico W)
keep them in a small file instead, written only when something in it changed.

What is kept:
- `quick_reboots`, and `planned_reset`: the logger is about to reset the board on purpose (no
  answer from the cloud for too long), so the next boot does not count as a quick reboot;
- `wakes`: deep-sleep wakes since the last upload; `rtc_set`: the RTC holds a trusted time;
- `link`: the cloud link's backoffs (`CloudLink.saved_state()`: failures and the wait still to
  go for each) and `silent_s`, how long the cloud has given no answer at all, so that a reset
  neither shortens a backoff nor restarts the "reboot when the cloud is silent" clock.
"""

import struct

from micropython import const

from tempnode import atomic

_MAGIC = const(0x544F)  # "TO": this layout
# magic, quick reboots, wakes, flags (bit 0 rtc_set, bit 1 planned_reset), silent_s,
# then three (failures, wait_s) pairs for the link's backoffs.
_FORMAT = "<HBHBIBIBIBI"
_SIZE = const(25)
_FILE = "boot_state.bin"
_RTC_SET = const(1)
_PLANNED = const(2)
LINK_BACKOFFS = const(3)


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
        self.planned_reset = False
        self.silent_s = 0
        self.link = ((0, 0),) * LINK_BACKOFFS
        self._saved = None
        self._load()

    def _read(self):
        if self._rtc is not None:
            return self._rtc.memory()
        return atomic.read_bytes(_FILE)

    def _load(self):
        raw = self._read()
        if not raw or len(raw) < _SIZE:
            return
        values = struct.unpack(_FORMAT, raw[:_SIZE])
        if values[0] != _MAGIC:
            return
        self.quick_reboots, self.wakes, flags, self.silent_s = values[1:5]
        self.rtc_set = bool(flags & _RTC_SET) and self._rtc is not None
        self.planned_reset = bool(flags & _PLANNED)
        rest = values[5:]
        self.link = tuple((rest[i], rest[i + 1]) for i in range(0, 2 * LINK_BACKOFFS, 2))
        self._saved = bytes(raw[:_SIZE])

    def keeps_rtc(self):
        """True when this board can tell that its RTC kept running (RTC memory survived)."""
        return self._rtc is not None

    def save(self):
        """Write the state if anything in it changed."""
        flags = (_RTC_SET if self.rtc_set else 0) | (_PLANNED if self.planned_reset else 0)
        pairs = ()
        for failures, wait_s in self.link:
            pairs += (min(failures, 255), min(wait_s, 0xFFFFFFFF))
        raw = struct.pack(
            _FORMAT,
            _MAGIC,
            min(self.quick_reboots, 255),
            min(self.wakes, 65535),
            flags,
            min(self.silent_s, 0xFFFFFFFF),
            *pairs,
        )
        if raw == self._saved:
            return
        if self._rtc is not None:
            self._rtc.memory(raw)
        else:
            atomic.write_bytes(_FILE, raw)
        self._saved = raw
