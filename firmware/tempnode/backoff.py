"""The one backoff policy: exponential, full jitter, Retry-After honoured, capped.

After the n-th failure in a row the next attempt waits a random time between `floor_ms` and
min(`cap_ms`, `base_ms` * 2**(n-1)): "full jitter" (AWS Architecture Blog, "Exponential Backoff
And Jitter", 2015), so a fleet that failed together does not retry together. A server's
`Retry-After` (RFC 9110 §10.2.3) raises the wait to at least what it asks, still capped at
`cap_ms`, so a broken server cannot silence the device for days. A success resets the count.

Times are monotonic milliseconds (`Clock.monotonic_ms()`): a wrong RTC cannot shorten or
stretch a wait.
"""

import random

from micropython import const

_MAX_DOUBLINGS = const(20)


class Backoff:
    def __init__(self, base_ms, cap_ms, floor_ms=0):
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.floor_ms = floor_ms
        self.failures = 0
        self._ready_at_ms = 0

    def failed(self, now_ms, retry_after_ms=None):
        """Record a failure at `now_ms`; return how long to wait before the next attempt (ms)."""
        self.failures += 1
        ceiling = min(self.cap_ms, self.base_ms << min(self.failures - 1, _MAX_DOUBLINGS))
        wait = random.randint(min(self.floor_ms, ceiling), ceiling)
        if retry_after_ms is not None:
            wait = max(wait, min(retry_after_ms, self.cap_ms))
        self._ready_at_ms = now_ms + wait
        return wait

    def succeeded(self):
        self.failures = 0
        self._ready_at_ms = 0

    def wait_ms(self, now_ms):
        """Milliseconds until the next attempt is allowed; 0 when it is allowed now."""
        return max(0, self._ready_at_ms - now_ms)
