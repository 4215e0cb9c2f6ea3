"""The status LED's vocabulary: one short pattern per state, played between steps.

| state | pattern | WS2812 colour |
|---|---|---|
| ok (a sample was taken and the cloud is reachable) | one 30 ms blip | green |
| no_wifi | 2 blinks | yellow |
| no_cloud (Wi-Fi up, cloud unreachable or refusing) | 3 blinks | orange |
| needs_provisioning | 1 long (600 ms) blink | blue |
| sensor_fault (the 1-Wire bus is shorted, or no sensor answers) | 4 blinks | purple |
| config_error | 5 fast blinks | red |
| safe_mode | on, steady | magenta |

A pattern takes at most 1.2 s, shorter than any board's watchdog period.
"""

from micropython import const

_BLINK_MS = const(120)
_FAST_MS = const(60)

# (on_ms, off_ms, repeats, (r, g, b)) per state: data, so the README table and the code agree.
PATTERNS = {
    "ok": (30, 0, 1, (0, 24, 0)),
    "no_wifi": (_BLINK_MS, _BLINK_MS, 2, (24, 16, 0)),
    "no_cloud": (_BLINK_MS, _BLINK_MS, 3, (32, 8, 0)),
    "needs_provisioning": (600, 200, 1, (0, 0, 32)),
    "sensor_fault": (_BLINK_MS, _BLINK_MS, 4, (16, 0, 32)),
    "config_error": (_FAST_MS, _FAST_MS, 5, (32, 0, 0)),
}
_SAFE_MODE_COLOUR = (24, 0, 24)


class StatusLed:
    def __init__(self, pins):
        import machine

        from tempnode.board import make_pin

        pin = make_pin(pins["status_led"], machine.Pin.OUT)
        self._pixel = None
        self._pin = pin
        self._active_low = pins["status_led_active_low"]
        if pins["status_led_kind"] == "ws2812":
            import neopixel  # type: ignore[import-not-found]  # esp32 ports

            self._pixel = neopixel.NeoPixel(pin, 1)
        self.off()

    def _set(self, on, colour):
        if self._pixel is not None:
            self._pixel[0] = colour if on else (0, 0, 0)
            self._pixel.write()
        else:
            self._pin.value(1 if on != self._active_low else 0)

    def off(self):
        self._set(False, None)

    def safe_mode(self):
        self._set(True, _SAFE_MODE_COLOUR)

    def show(self, state, clock):
        """Play `state`'s pattern once (blocking, at most 1.2 s)."""
        on_ms, off_ms, repeats, colour = PATTERNS[state]
        for _ in range(repeats):
            self._set(True, colour)
            clock.sleep_ms(on_ms)
            self._set(False, colour)
            clock.sleep_ms(off_ms)
