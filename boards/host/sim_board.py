"""The simulated board itself: its facts, its scenario, what survives a reset, how a boot ends.

`machine`, `network` and `socket` on the host board are thin MicroPython-shaped fronts; the
state they share lives here.

- Facts: `boards/host.json` (`BOARD`): flash size, RTC memory size, watchdog maximum.
- Scenario: the JSON file named by `TEMPNODE_SCENARIO` (`scenario()`, `{}` without one).
  Scenario second 0 is the virtual Unix time `TEMPNODE_SCENARIO_T0_MS` (set it when a scenario
  spans reboots), else the first time a module asks (as `_onewire` does).
- Pins: an input reads the level the scenario's `"pins"` gives it (`{"0": 0}`: the safe-mode
  button held), overridden per boot by env `TEMPNODE_PINS` (same JSON), else its pull.
  With `TEMPNODE_PIN_TRACE=PATH`, every change of an output pin is appended to PATH as
  `<virtual Unix ms> <pin> <level>` (the status LED's patterns, for a test to read).
- What survives: RTC memory, the RTC's setting and the reset cause are kept in the host file
  `<flash image>.rtc`. A boot reads them and marks the file spent; only a reset that ends the
  boot through `reset()` writes them again, so a power cut (or a SIGKILL) leaves a power-on
  with empty RTC memory, as on real hardware.
- How a boot ends: `reset(cause)` stops the board at once: the flash takes no more writes, and
  the process exits with `resets.exit_status(cause)` (even if the firmware catches the
  SystemExit: the next flash access or time reading raises it again). At exit, the block-write
  and erase counts are written to `<flash image>.stats` (JSON: `boots`, cumulative `writes` and
  `erases`, this boot's `run_writes` and `run_erases`, and the `exit` event of `resets.EVENTS`).
"""

import json
import os
import struct
import sys
import time

import resets

_HERE = __file__.rsplit("/", 1)[0]
with open(_HERE + ".json") as _f:
    BOARD = json.load(_f)

_RTC_STATE = "<BiH"  # reset cause (0: spent), RTC minus virtual time in s, RTC memory length
_RTC_STATE_SIZE = 7
_STATS_SIZE = 256  # the stats file is rewritten in place, padded with spaces

reset_cause = resets.PWRON_RESET
rtc_memory = b""

_scenario = None
_t0_ms = None
_pending = None  # the cause of the reset that is ending this boot
_flash = None
_rtc_file = None
_stats_file = None
_stats = {}
_trace_file = None


def scenario():
    global _scenario
    if _scenario is None:
        path = os.getenv("TEMPNODE_SCENARIO")
        _scenario = _read_json(path) if path else {}
    return _scenario


def scenario_ms():
    """Virtual milliseconds since the scenario's second 0."""
    global _t0_ms
    if _t0_ms is None:
        t0 = os.getenv("TEMPNODE_SCENARIO_T0_MS")
        _t0_ms = int(t0) if t0 else time.virtual_ms()
    return time.virtual_ms() - _t0_ms


def input_level(pin_id):
    """The level the outside world holds pin `pin_id` at, or None when nothing drives it."""
    key = str(pin_id)
    levels = os.getenv("TEMPNODE_PINS")
    if levels:
        level = json.loads(levels).get(key)
        if level is not None:
            return level
    return scenario().get("pins", {}).get(key)


def trace_pin(pin_id, level):
    if _trace_file is not None:
        _trace_file.write("%d %s %d\n" % (time.virtual_ms(), pin_id, level))


def power_on(flash_path, flash):
    """Start a boot of the board whose flash image is `flash_path` (open as `flash`).

    Opens the board's host files now: after boot the host filesystem is read-only to it."""
    global reset_cause, rtc_memory, _flash, _rtc_file, _stats_file, _stats, _trace_file
    _flash = flash
    _rtc_file = _open_rw(flash_path + ".rtc")
    state = _rtc_file.read()
    if len(state) >= _RTC_STATE_SIZE:
        cause, rtc_error_s, size = struct.unpack(_RTC_STATE, state[:_RTC_STATE_SIZE])
        if cause:
            reset_cause = cause
            rtc_memory = state[_RTC_STATE_SIZE : _RTC_STATE_SIZE + size]
            time.set_rtc(time.virtual_ms() // 1000 + rtc_error_s)
    _rtc_file.seek(0)
    _rtc_file.write(b"\0")  # spent: unless this boot ends in reset(), the next is a power-on
    _stats_file = _open_rw(flash_path + ".stats")
    try:
        _stats = json.loads(_stats_file.read() or "{}")
    except ValueError:
        _stats = {}
    _stats["boots"] = _stats.get("boots", 0) + 1
    trace = os.getenv("TEMPNODE_PIN_TRACE")
    if trace:
        _trace_file = open(trace, "a")
    sys.atexit(_at_exit)


def reset(cause):
    """End this boot now, with `cause` as the next boot's reset cause."""
    global _pending
    if _pending is None:
        _pending = cause
    if _flash is not None:
        _flash.power_off(_stop)
    _stop()


def power_cut():
    """What the flash calls at the write where the power goes."""
    if _pending is None:
        print("board: power cut at flash write %d" % (_flash.writes + 1 if _flash else 0))
    reset(resets.PWRON_RESET)


def _stop():
    time.set_alarm(0, _stop)  # whatever the dying firmware does next, it meets this again
    raise SystemExit(resets.exit_status(_pending))


def _at_exit():
    time.set_alarm(None, None)
    time.publish()  # the next boot starts from this boot's time, never before it
    cause = _pending or resets.SOFT_RESET  # a boot that ended at the REPL
    if cause != resets.PWRON_RESET:
        rtc_error_s = time.rtc_s() - time.virtual_ms() // 1000
        _rtc_file.seek(0)
        _rtc_file.write(struct.pack(_RTC_STATE, cause, rtc_error_s, len(rtc_memory)))
        _rtc_file.write(rtc_memory)
    _stats["writes"] = _stats.get("writes", 0) + _flash.writes
    _stats["erases"] = _stats.get("erases", 0) + _flash.erases
    _stats["run_writes"] = _flash.writes
    _stats["run_erases"] = _flash.erases
    _stats["exit"] = resets.EVENTS[cause]
    data = json.dumps(_stats).encode()
    _stats_file.seek(0)
    _stats_file.write(data + b" " * (_STATS_SIZE - len(data)))


def _open_rw(path):
    try:
        return open(path, "r+b")
    except OSError:
        return open(path, "w+b")


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError("TEMPNODE_SCENARIO=%s: not a readable JSON file (%s)" % (path, e))
