"""The air around the simulated board: which Wi-Fi networks exist, when the link is down, and
whether the board's station holds an IP address. `network.WLAN` is its front, `socket` asks it
whether packets get through.

Scenario keys (see `sim_board`): `"wifi"`: the networks, `[{"ssid", "password", "rssi"}]`;
`"wifi_outages"`: windows `[{"from_s", "to_s"}]` in scenario seconds during which nothing gets
through. A scenario without `"wifi"` is a wired board: sockets always work, so host tests of the
network code need no Wi-Fi set up.

The station, as on an esp32: `connect()` takes `_ASSOCIATE_MS` to get an address (longer if an
outage is in the way). During an outage it keeps saying it is connected until it has missed
beacons for `_BEACON_TIMEOUT_MS` (ESP-IDF's station beacon timeout, 6 s by default); outages
shorter than that it never notices. Then it reconnects by itself once the air is back. So
`isconnected()` cannot be trusted to detect an outage: only timeouts can
(boards-and-micropython.md, "Traps").
"""

import sim_board
from micropython import const

_ASSOCIATE_MS = const(2000)
_BEACON_TIMEOUT_MS = const(6000)


def simulated():
    """False for a wired board (no `"wifi"` in the scenario)."""
    return "wifi" in sim_board.scenario()


def network(ssid):
    for net in sim_board.scenario().get("wifi", ()):
        if net["ssid"] == ssid:
            return net
    return None


def visible_networks():
    return sim_board.scenario().get("wifi", ()) if air_up() else ()


def _outages():
    windows = sim_board.scenario().get("wifi_outages", ())
    return sorted((w["from_s"] * 1000, w["to_s"] * 1000) for w in windows)


def air_up(now_ms=None):
    now_ms = sim_board.scenario_ms() if now_ms is None else now_ms
    for start, end in _outages():
        if start <= now_ms < end:
            return False
    return True


class Station:
    def __init__(self):
        self.active = False
        self.ssid = None  # of the network it was asked to join, until disconnect()
        self.key = None
        self._connect_ms = 0

    def connect(self, ssid, key):
        self.ssid = ssid
        self.key = key
        self._connect_ms = sim_board.scenario_ms()

    def disconnect(self):
        self.ssid = None

    def joined(self):
        """The network it is trying to join, when that exists and the password is right."""
        if not self.active or self.ssid is None:
            return None
        net = network(self.ssid)
        if net is None or net.get("password", "") != (self.key or ""):
            return None
        return net

    def attempting(self):
        """Within the first association attempt after connect()."""
        return sim_board.scenario_ms() < self._connect_ms + _ASSOCIATE_MS

    def has_ip(self):
        return self.joined() is not None and self._has_ip_at(sim_board.scenario_ms())

    def _has_ip_at(self, now):
        done = self._connect_ms + _ASSOCIATE_MS  # when the current association completes
        for start, end in _outages():
            if end <= self._connect_ms:
                continue
            if start < done:  # the outage is in the way of associating
                done = max(done, end + _ASSOCIATE_MS)
                continue
            if now < start:
                break
            if end - start <= _BEACON_TIMEOUT_MS:
                continue  # too short to notice: keeps its address
            if now < start + _BEACON_TIMEOUT_MS:
                return True  # has not noticed yet
            done = end + _ASSOCIATE_MS  # noticed; reconnects once the air is back
        return now >= done


station = Station()


def link_up():
    """Whether a packet sent now gets through: the station has its address and the air is up."""
    return not simulated() or (station.has_ip() and air_up())
