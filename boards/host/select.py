"""`select` on the simulated board: the port's poll, which waits in virtual time while the link
is down.

The HTTP client waits for its non-blocking socket with `select.poll`. While `sim_wifi` says the
air is down, the simulated `socket` returns nothing (EAGAIN) even when the real loopback socket
below it has bytes, so a real poll would wake at once and the client would spin until its
deadline in real time. Here a poll during an outage waits out its timeout in virtual time
instead (a sleep moves virtual time forward at once) and reports nothing ready, as a radio
with no signal would.
"""

import time

import sim_wifi
import uselect
from uselect import *  # noqa: F403 - POLLIN, POLLOUT and the rest of the port's constants


class poll:
    def __init__(self):
        self._poller = uselect.poll()

    def register(self, obj, events=uselect.POLLIN | uselect.POLLOUT):
        self._poller.register(obj, events)

    def modify(self, obj, events):
        self._poller.modify(obj, events)

    def unregister(self, obj):
        self._poller.unregister(obj)

    def poll(self, timeout_ms=-1):
        if not sim_wifi.link_up():
            time.sleep_ms(max(0, timeout_ms))
            return []
        return self._poller.poll(timeout_ms)
