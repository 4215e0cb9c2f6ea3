"""Device time: monotonic milliseconds that never wrap, and wall time once it is known.

`time.ticks_ms()` wraps (2**30 ms, about 12.4 days, on esp32/rp2/esp8266) and `ticks_diff` is only
valid for half a period, so `Clock` folds each step into an ever-growing count. Call
`monotonic_ms()` at least once every six days (the logger calls it every sample).

Two kinds of time, because small integers end at 2**30 on 32-bit ports (py/mpconfig.h,
MP_SMALL_INT_MAX; every board we support): `monotonic_ms()` passes 2**30 after 12.4 days of
uptime and from then on is a heap-allocated long integer, so each call, and each sum or
difference of its values, allocates (32 B on an ESP32). It is for schedules and lifetimes,
read a few times per cycle. A wait measured in a loop (the sensors' conversion poll) uses
`ticks_ms()` and `elapsed_ms(since)`: the port's ticks, a small integer at any uptime, so the
loop allocates nothing. Unix time (about 1.8e9 s) is a long integer on those ports too.

Wall time is never read from the RTC as such: after a power cut a board without a backup battery
reads 2000-01-01. It becomes known when something trustworthy says what time it is (NTP, an HTTP
`Date` header) and is kept as an offset from the monotonic count, so it advances with it.
Token lifetimes and schedules use only `monotonic_ms()`; a wrong wall clock cannot move them.
"""

import time

# Seconds between 1970-01-01 and the port's epoch start: readings carry Unix time on every port.
_EPOCH_2000 = 946684800


def port_epoch_offset():
    """Seconds to add to `time.time()` for Unix time on this port (ESP ports count from 2000)."""
    return _EPOCH_2000 if time.gmtime(0)[0] == 2000 else 0


def read_rtc():
    """Unix seconds the board's RTC reads (right only if something set it; see BootState)."""
    return time.time() + port_epoch_offset()


def set_rtc(unix_s):
    """Set the board's RTC, which keeps running through deep sleep (not through a power cut)."""
    import machine

    t = time.gmtime(unix_s - port_epoch_offset())
    machine.RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))


class Clock:
    def __init__(self):
        self._last_ticks = time.ticks_ms()
        self._elapsed_ms = 0
        self._wall_minus_mono_ms = None
        self.wall_source = None

    def monotonic_ms(self):
        now = time.ticks_ms()
        self._elapsed_ms += time.ticks_diff(now, self._last_ticks)
        self._last_ticks = now
        return self._elapsed_ms

    def ticks_ms(self):
        """An instant to measure a short wait from with `elapsed_ms` (a small integer)."""
        return time.ticks_ms()

    def elapsed_ms(self, since):
        """Milliseconds from instant `since` (`ticks_ms`) to now; right for waits < 6.2 days."""
        return time.ticks_diff(time.ticks_ms(), since)

    def sleep_ms(self, ms):
        if ms > 0:
            time.sleep_ms(ms)

    def set_wall_time(self, unix_s, source):
        """Adopt `unix_s` (seconds since 1970) as the time now, learned from `source`."""
        self._wall_minus_mono_ms = unix_s * 1000 - self.monotonic_ms()
        self.wall_source = source

    def wall_known(self):
        return self._wall_minus_mono_ms is not None

    def wall_time(self):
        """Unix seconds now, or None while the wall time is unknown."""
        return self.to_wall(self.monotonic_ms())

    def to_wall(self, mono_ms):
        """Unix seconds at monotonic instant `mono_ms`, or None while the wall time is unknown."""
        if self._wall_minus_mono_ms is None:
            return None
        return (self._wall_minus_mono_ms + mono_ms) // 1000
