"""`machine` on the simulated board: pins, the watchdog, the RTC, resets and sleeps.

Everything the unix port's own `machine` has (`mem8`, `Signal`, `idle`, ...) is kept. Values of
the constants are the esp32 port's. See `sim_board` for where state lives and how a boot ends:
- `WDT(timeout=ms)` really resets the board (exit status `resets.exit_status(WDT_RESET)`, after
  printing why) when more than `timeout` ms of virtual time pass between feeds; checked whenever
  the firmware reads or sleeps time, and a sleep that outlasts it ends at the reset. At most the
  board's `watchdog_max_ms` (boards/host.json, as strict as the Pico W's 8388 ms).
- `deepsleep(ms)` moves virtual time on by `ms` with the watchdog stopped, then resets the board
  (`DEEPSLEEP_RESET`); `lightsleep(ms)` is a sleep during which the watchdog keeps counting.
- `RTC().memory()` holds up to `rtc_memory_bytes` across resets and deep sleep, not a power cut.
- `Pin`: inputs read what the scenario or `TEMPNODE_PINS` holds them at, else their pull; outputs
  read back what was written (and are traced with `TEMPNODE_PIN_TRACE`).
"""

import time

import sim_board
import umachine
from resets import DEEPSLEEP_RESET, HARD_RESET, PWRON_RESET, SOFT_RESET, WDT_RESET  # noqa: F401
from umachine import *  # noqa: F403 - the unix port's machine: mem8/16/32, Signal, idle, ...

_UNIQUE_ID = b"\x02\x00\x74\x6e\x00\x01"  # locally administered, "tn"
_levels = {}  # pin id -> level an output drives
_freq = 240000000


class Pin(umachine.PinBase):
    """A GPIO. Subclassing the port's PinBase makes it usable by `Signal` and C drivers."""

    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        self._id = id
        self._mode = Pin.IN
        self._pull = None
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, *, value=None):
        if mode != -1:
            self._mode = mode
        if pull != -1:
            self._pull = pull
        if value is not None:
            self.value(value)

    def value(self, level=None):
        if level is None:
            return self._read()
        level = 1 if level else 0
        if _levels.get(self._id) != level:
            _levels[self._id] = level
            sim_board.trace_pin(self._id, level)
        return None

    def _read(self):
        driven = _levels.get(self._id) if self._mode != Pin.IN else None
        if driven == 0 or (driven == 1 and self._mode == Pin.OUT):
            return driven
        level = sim_board.input_level(self._id)
        if level is not None:
            return 1 if level else 0
        return 1 if self._pull == Pin.PULL_UP else 0

    def __call__(self, level=None):
        return self.value(level)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):
        self.value(1 - self._read())

    def __repr__(self):
        return "Pin(%r)" % (self._id,)


class WDT:
    def __init__(self, id=0, timeout=5000):
        limit = sim_board.BOARD["watchdog_max_ms"]
        if not 1 <= timeout <= limit:
            raise ValueError("WDT timeout %d ms: this board allows 1 to %d ms" % (timeout, limit))
        self._timeout_ms = timeout
        self.feed()

    def feed(self):
        time.set_alarm(time.virtual_us() + self._timeout_ms * 1000, self._expired)

    def _expired(self):
        print("board: watchdog not fed for %d ms, resetting" % self._timeout_ms)
        sim_board.reset(WDT_RESET)


class RTC:
    def __init__(self, id=0):
        pass

    def datetime(self, datetimetuple=None):
        """(year, month, day, weekday, hours, minutes, seconds, subseconds), as on esp32/rp2."""
        if datetimetuple is None:
            tm = time.gmtime()
            return (tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], 0)
        year, month, day, _, hours, minutes, seconds = datetimetuple[:7]
        time.set_rtc(time.mktime((year, month, day, hours, minutes, seconds, 0, 0)))
        return None

    init = datetime

    def memory(self, data=None):
        if data is None:
            return bytes(sim_board.rtc_memory)
        size = sim_board.BOARD["rtc_memory_bytes"]
        if len(data) > size:
            raise ValueError("buffer too long: RTC memory holds %d bytes" % size)
        sim_board.rtc_memory = bytes(data)
        return None


def reset_cause():
    return sim_board.reset_cause


def reset():
    sim_board.reset(HARD_RESET)


def soft_reset():
    sim_board.reset(SOFT_RESET)


def deepsleep(time_ms=0):
    """Sleep `time_ms` of virtual time (0: until something outside restarts the board)."""
    time.set_alarm(None, None)  # a deep-sleeping chip has no watchdog running
    time.advance_ms(time_ms)
    sim_board.reset(DEEPSLEEP_RESET)


def lightsleep(time_ms=0):
    time.sleep_ms(time_ms)


def unique_id():
    return _UNIQUE_ID


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    _freq = hz
    return None
