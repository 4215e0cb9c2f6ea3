"""Virtual time for the simulated board: the `time` module the firmware imports on the host.

Virtual time runs at the speed of real time, and a sleep does not wait: it moves virtual time
forward at once, so days of device time pass in seconds. Everything that shares the offset file
(`TEMPNODE_VCLOCK`, 8 bytes: virtual minus real Unix time in ms) agrees on what time it is:
the next boot of the board and the dev cloud, which checks token lifetimes against it.

Ticks wrap at 2**30 like on esp32/rp2/esp8266, and start at `TEMPNODE_TICKS_START` (default 0),
so wrap handling is exercised. The RTC (`time.time()`) reads virtual time plus
`TEMPNODE_RTC_ERROR_S` seconds, like a board whose clock was never set after a power cut.

Virtual time has microsecond precision: the simulated 1-Wire bus spends its bus time with
`advance_us` (a reset is 960 us, a slot 70 us). The offset file is rewritten once virtual time
has run a second ahead of what it says (a 12-bit conversion polled every millisecond would
otherwise mean ~600 writes), and by `publish()`, which the board's socket calls before it
talks to the cloud, so the cloud's clock is exact whenever it can observe the device.
With `TEMPNODE_VCLOCK_STILL=1` real time does not flow into virtual time at all: only
sleeps and bus time move it, so a test can assert exact durations (not for use with a shared
`TEMPNODE_VCLOCK` file, whose readers add real time). With `TEMPNODE_REALTIME=1` (the practice
board, `tempnode practice-board`) a sleep waits in real time, as on a real board. With
`TEMPNODE_VCLOCK_UNTIL_MS` (the end of a `tempnode sim` run) virtual time skips no further
than that: a sleep past it waits in real time until the run stops the board.

One alarm (`set_alarm`, the board's watchdog) is checked lazily: whenever time is read or a
sleep moves it, and a sleep that would pass the alarm stops there first. The firmware's calls
(ticks, sleeps, `time()`) are also where a Ctrl-C from the console is raised
(`interrupt_line`), and a sleep in real time stops at one.
"""

import os
import struct

import interrupt_line
import utime as _host

_TICKS_PERIOD = 1 << 30
_TICKS_MASK = _TICKS_PERIOD - 1
_TICKS_HALF = _TICKS_PERIOD >> 1

_offset_path = os.getenv("TEMPNODE_VCLOCK")
_offset_file = None
_offset_ms = 0
_offset_sub_us = 0  # 0..999: the part of the offset below a millisecond
_published_ms = 0  # the offset the file holds
_PUBLISH_DRIFT_MS = 1000
_rtc_error_ms = int(os.getenv("TEMPNODE_RTC_ERROR_S") or 0) * 1000
# Real time is the host's monotonic microsecond ticks (a small integer: the unix port's ticks
# period is 2**62) anchored to Unix time once. Reading `time_ns()` each time would allocate a
# big integer per call, and the simulated 1-Wire bus reads the clock at every 70 us slot.
_real_base_us = _host.time_ns() // 1000
_real_base_ticks = _host.ticks_us()
_still_us = _real_base_us if os.getenv("TEMPNODE_VCLOCK_STILL") == "1" else None
# The practice board: sleeps take real time (virtual time is then the host's time plus the
# shared offset, which this board never moves).
_realtime = os.getenv("TEMPNODE_REALTIME") == "1"
# The end of a scenario run, in virtual Unix ms: a sleep never skips past it, but waits in
# real time there until the run stops the board, so a run takes the same samples every time.
_until_ms = int(os.getenv("TEMPNODE_VCLOCK_UNTIL_MS") or 0) or None
_alarm_us = None
_on_alarm = None


def _real_us():
    if _still_us is not None:
        return _still_us
    return _real_base_us + _host.ticks_diff(_host.ticks_us(), _real_base_ticks)


def _load_offset():
    global _offset_file, _offset_ms, _published_ms
    if not _offset_path:
        return
    try:
        _offset_file = open(_offset_path, "r+b")
        data = _offset_file.read(8)
        if len(data) == 8:
            _offset_ms = _published_ms = struct.unpack("<q", data)[0]
            return
    except OSError:
        _offset_file = open(_offset_path, "w+b")
    _write_offset()


def _write_offset():
    global _published_ms
    # The unix port's files are unbuffered: the write is in the kernel, where the cloud reads
    # it, when it returns. No flush: on this port that is an fsync, a disk wait per publish.
    _offset_file.seek(0)
    _offset_file.write(struct.pack("<q", _offset_ms))
    _published_ms = _offset_ms


def publish():
    """Write the offset file now (others sharing it then see exactly this board's time)."""
    if _offset_file is not None and _published_ms != _offset_ms:
        _write_offset()


def _now_us():
    return _real_us() + _offset_ms * 1000 + _offset_sub_us


def virtual_us():
    """Virtual Unix time in microseconds."""
    now = _now_us()
    if _alarm_us is not None and now >= _alarm_us:
        _ring()
    return now


def set_alarm(at_us, callback):
    """Call `callback()` once, when virtual time reaches `at_us` (None: no alarm)."""
    global _alarm_us, _on_alarm
    _alarm_us = at_us
    _on_alarm = callback


def _ring():
    global _alarm_us
    _alarm_us = None
    _on_alarm()


def virtual_ms():
    """Virtual Unix time in milliseconds."""
    return virtual_us() // 1000


def advance_ms(ms):
    """Move virtual time forward by `ms` (what a sleep does); in real time, or past the end
    of the run, wait that long instead."""
    global _offset_ms
    if ms > 0:
        if _alarm_us is not None:
            ms = min(ms, max(0, -((_now_us() - _alarm_us) // 1000)))  # stop at the alarm
        skip = 0 if _realtime else ms
        if _until_ms is not None:
            skip = min(skip, max(0, _until_ms - _now_us() // 1000))
        _offset_ms += skip
        if _offset_ms - _published_ms >= _PUBLISH_DRIFT_MS or skip < ms:
            publish()
        if skip < ms:
            interrupt_line.sleep_ms(ms - skip)
        virtual_us()


def advance_us(us):
    """Move virtual time forward by `us` (bus time of the simulated hardware)."""
    global _offset_sub_us
    if us > 0:
        total_us = _offset_sub_us + us
        _offset_sub_us = total_us % 1000
        advance_ms(total_us // 1000)


_load_offset()
_boot_ms = virtual_ms() - int(os.getenv("TEMPNODE_TICKS_START") or 0)


def ticks_ms():
    interrupt_line.check()
    return (virtual_ms() - _boot_ms) & _TICKS_MASK


def ticks_us():
    interrupt_line.check()
    return (virtual_us() - _boot_ms * 1000) & _TICKS_MASK


ticks_cpu = ticks_us


def ticks_add(ticks, delta):
    return (ticks + delta) & _TICKS_MASK


def ticks_diff(end, start):
    return ((end - start + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF


def sleep_ms(ms):
    interrupt_line.check()
    advance_ms(int(ms))


def sleep_us(us):
    interrupt_line.check()
    advance_us(int(us))


def sleep(seconds):
    interrupt_line.check()
    advance_ms(int(seconds * 1000))


def time():
    interrupt_line.check()
    return rtc_s()


def rtc_s():
    """The RTC's Unix seconds, for the board's own bookkeeping (no Ctrl-C is raised here)."""
    return (virtual_ms() + _rtc_error_ms) // 1000


def time_ns():
    return (virtual_ms() + _rtc_error_ms) * 1000000


def set_rtc(unix_s):
    """What `machine.RTC().datetime(...)` does on the simulated board."""
    global _rtc_error_ms
    _rtc_error_ms = unix_s * 1000 - virtual_ms()


def gmtime(secs=None):
    return _host.gmtime(time() if secs is None else secs)


localtime = gmtime


def mktime(tup):
    return _host.mktime(tup)
