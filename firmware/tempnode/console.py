"""What the console says while the logger runs, in ESPHome's log style: one line per reading
cycle with the values, one line per change of state, and a reminder while a problem lasts.

    console = Console(clock)
    console.cycle(readings, waiting)        # "tank 21.50°C, 28ff..0345 crc | 12 to send"
    console.problem("cloud", text)          # printed when it changes; None: the problem ended

A problem is a topic ("sensors", "cloud") and one line of text without the numbers that change
from one try to the next, so a six-hour outage is one line when it starts, one when it ends and
one every `_REMIND_MS` in between with how long it has lasted, not a line per try.
"""

from micropython import const

from tempnode.redact import log

_REMIND_MS = const(3600000)


class Console:
    def __init__(self, clock):
        self.clock = clock
        self._problems = {}  # topic -> (text, since_ms, reminded_ms)

    def cycle(self, readings, waiting):
        """One line for a sample cycle: each sensor's value or reason, and the spool's depth."""
        if not readings:
            log("no sensor found on the 1-Wire bus | %d to send" % waiting)
            return
        parts = []
        for r in readings:
            name = r.label or r.rom_hex
            parts.append("%s %s" % (name, r.error if r.c16 is None else "%.2f°C" % r.c))
        log("%s | %d to send" % (", ".join(parts), waiting))

    def problem(self, topic, text):
        """Say when `topic`'s problem starts, changes or ends (`text` None), and remind of it
        every hour while it lasts."""
        now = self.clock.monotonic_ms()
        current = self._problems.get(topic)
        if current is None:
            if text is not None:
                log(text)
                self._problems[topic] = (text, now, now)
            return
        old_text, since, reminded = current
        if text == old_text:
            if now - reminded >= _REMIND_MS:
                log("%s (for %s now)" % (text, _duration(now - since)))
                self._problems[topic] = (text, since, now)
            return
        if text is None:
            log("%s: fine again after %s" % (topic, _duration(now - since)))
            del self._problems[topic]
            return
        log(text)
        self._problems[topic] = (text, since, now)

    def has_problem(self, topic):
        return topic in self._problems


def _duration(ms):
    minutes = ms // 60000
    if minutes < 2:
        return "%d s" % (ms // 1000)
    if minutes < 120:
        return "%d min" % minutes
    return "%d h %02d min" % (minutes // 60, minutes % 60)
