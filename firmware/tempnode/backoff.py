"""The one backoff policy: how long to wait after each kind of failure, with full jitter.

    gate = Backoff.by_outcome()                  # the cloud link: waits follow `POLICY`
    wait = gate.failed(now_ms, "refused", retry_after_ms)
    gate.wait_ms(now_ms)                         # 0 when the next attempt may go
    gate.succeeded()
    joins = Backoff(5000, 300000)                # a fixed schedule (Wi-Fi joins, polls)

After the n-th failure in a row the next attempt waits a random time between `floor_ms` and
min(`cap_ms`, `base_ms` * 2**(n-1)): "full jitter" (AWS Architecture Blog, "Exponential Backoff
And Jitter", 2015), so a fleet that failed together does not retry together. A server's
`Retry-After` (RFC 9110 §10.2.3) raises the wait to at least what it asks, still capped at
`cap_ms`, so a broken server cannot silence the device for days. A success resets the count.

`POLICY` is the schedule per outcome (`tempnode.outcomes`): a busy or unreachable cloud is
tried again within seconds, growing to 15 minutes; a request the cloud refuses (a redirect, a
4xx, a certificate not accepted: something a person must fix, or a sign-in page that goes
away) within a minute, growing to an hour; a credential the cloud explicitly refused every
15 minutes to 6 hours (in case the refusal was the cloud's mistake). The count of failures
carries over from one kind to the next: a cloud that alternates 503 and 302 still backs off.

Times are monotonic milliseconds (`Clock.monotonic_ms()`): a wrong RTC cannot shorten or
stretch a wait. `state()` and `restore()` carry a backoff across a reset (RTC memory or a
file, `tempnode.boot_state`), so a reboot is not a way around it.
"""

import random

from micropython import const

_MAX_DOUBLINGS = const(20)
_TRANSIENT = (2000, 900000, 0)  # 2 s .. 15 min
_REFUSED = (60000, 3600000, 0)  # 1 min .. 1 h
_CREDENTIAL_REFUSED = (900000, 21600000, 900000)  # 15 min .. 6 h, never sooner than 15 min
POLICY = {
    "transient": _TRANSIENT,
    "garbage": _TRANSIENT,
    "refused": _REFUSED,
    "config": _REFUSED,
    "credential_refused": _CREDENTIAL_REFUSED,
}


class Backoff:
    def __init__(self, base_ms, cap_ms, floor_ms=0, policy=None):
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.floor_ms = floor_ms
        self.policy = policy
        self.failures = 0
        self._ready_at_ms = 0

    @classmethod
    def by_outcome(cls):
        """A backoff whose schedule follows the outcome of each failure (`POLICY`)."""
        base, cap, floor = _TRANSIENT
        return cls(base, cap, floor, POLICY)

    def failed(self, now_ms, outcome=None, retry_after_ms=None):
        """Record a failure at `now_ms`; return how long to wait before the next attempt (ms)."""
        if self.policy is not None and outcome in self.policy:
            self.base_ms, self.cap_ms, self.floor_ms = self.policy[outcome]
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

    def state(self, now_ms):
        """(failures, seconds still to wait): what a reset must not forget."""
        return self.failures, (self.wait_ms(now_ms) + 999) // 1000

    def restore(self, failures, wait_s, now_ms):
        """Take up a backoff saved by `state()` before a reset, its wait counted from now."""
        self.failures = failures
        self._ready_at_ms = now_ms + wait_s * 1000 if wait_s else 0
