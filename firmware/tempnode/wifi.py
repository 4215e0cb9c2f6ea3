"""Wi-Fi station: join the configured networks in order, within a deadline; reconnect cleanly.

Traps (boards-and-micropython.md): on esp32, `connect()` while a connection attempt is still
running raises "Wifi Internal Error", so every attempt starts with `disconnect()` and a pause.
`isconnected()` describes the interface, not the path to the cloud: outages (about 20 a day on
an ordinary home network) show up as request timeouts, after which the logger calls
`link_lost()` and the next `ensure()` joins again. Failed joins back off (the one policy,
`tempnode.backoff`), so a missing access point does not keep the radio busy.
"""

from micropython import const

from tempnode.backoff import Backoff
from tempnode.redact import log

_POLL_MS = const(100)
_SETTLE_MS = const(200)  # after disconnect(), before connect() (esp32 "Wifi Internal Error")
_JOIN_TIMEOUT_MS = const(15000)
_RETRY_BASE_MS = const(5000)
_RETRY_CAP_MS = const(300000)


class Wifi:
    def __init__(self, networks, passwords, clock):
        import network

        self._wlan = network.WLAN(network.STA_IF)
        self._ssids = [n["ssid"] for n in networks]
        self._passwords = passwords
        self._clock = clock
        self._backoff = Backoff(_RETRY_BASE_MS, _RETRY_CAP_MS)
        self.ssid = None
        self.outages = 0

    def ensure(self, deadline_ms, feed):
        """True when joined; otherwise try each network once (if the backoff allows) until
        `deadline_ms`, calling `feed()` between polls (the watchdog)."""
        if self.ssid is not None and self._wlan.isconnected():
            return True
        if self.ssid is not None:
            self.link_lost()
        if self._backoff.wait_ms(self._clock.monotonic_ms()):
            return False
        self._wlan.active(True)
        for ssid in self._ssids:
            if self._join(ssid, deadline_ms, feed):
                self.ssid = ssid
                self._backoff.succeeded()
                log("Wi-Fi joined %s (RSSI %s dBm)" % (ssid, self.rssi()))
                return True
            if self._clock.monotonic_ms() >= deadline_ms:
                break
        wait = self._backoff.failed(self._clock.monotonic_ms())
        if self._backoff.failures == 1:  # said once per outage; the next join is said too
            log(
                "Wi-Fi: no network joined; trying again in %d s, then less and less often"
                % (wait // 1000 + 1)
            )
        return False

    def _join(self, ssid, deadline_ms, feed):
        clock = self._clock
        self._wlan.disconnect()
        clock.sleep_ms(_SETTLE_MS)
        self._wlan.connect(ssid, self._passwords.get(ssid, ""))
        give_up = min(deadline_ms, clock.monotonic_ms() + _JOIN_TIMEOUT_MS)
        while clock.monotonic_ms() < give_up:
            if self._wlan.isconnected():
                return True
            feed()
            clock.sleep_ms(_POLL_MS)
        self._wlan.disconnect()
        return False

    def failing(self):
        """True when the last attempt to join found no network."""
        return self.ssid is None and self._backoff.failures > 0

    def link_lost(self):
        """The path to the cloud failed: drop the association so the next `ensure` re-joins."""
        if self.ssid is not None:
            self.outages += 1
            log("Wi-Fi link to %s lost; will re-join" % self.ssid)
        self.ssid = None
        self._wlan.disconnect()

    def rssi(self):
        try:
            return self._wlan.status("rssi")
        except (OSError, ValueError, TypeError):
            return None

    def close(self):
        self.ssid = None
        self._wlan.disconnect()
