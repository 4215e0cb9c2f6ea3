"""`network` on the simulated board: one station interface whose link the scenario drives.

The API and the status values are the esp32 port's. What the air does (networks, outages, how
long associating takes, when the station notices a lost link) is in `sim_wifi`.
"""

import time

import sim_wifi
from micropython import const

STA_IF = const(0)
AP_IF = const(1)

STAT_IDLE = const(1000)
STAT_CONNECTING = const(1001)
STAT_GOT_IP = const(1010)
STAT_NO_AP_FOUND = const(201)
STAT_WRONG_PASSWORD = const(202)
STAT_BEACON_TIMEOUT = const(200)
STAT_ASSOC_FAIL = const(203)
STAT_HANDSHAKE_TIMEOUT = const(204)

_MAC = b"\x02\x00\x74\x6e\x00\x01"
_ADDRESS = ("192.168.4.23", "255.255.255.0", "192.168.4.1", "192.168.4.1")
_NO_ADDRESS = ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")
_SCAN_MS = const(2200)  # an esp32 active scan of all channels blocks about this long
_WPA2 = const(3)  # network.AUTH_WPA2_PSK


class WLAN:
    def __init__(self, interface_id=STA_IF):
        if interface_id != STA_IF:
            raise ValueError("the simulated board has only the station interface (STA_IF)")
        self._station = sim_wifi.station
        self._config = {"hostname": "tempnode", "pm": 0, "reconnects": -1, "txpower": 20}

    def active(self, is_active=None):
        if is_active is None:
            return self._station.active
        self._station.active = bool(is_active)
        if not is_active:
            self._station.disconnect()
        return None

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._station.active:
            raise OSError("Wifi Not Started")
        if self.status() == STAT_CONNECTING:
            # As on esp32: connecting while a connection is under way (boards-and-micropython.md).
            raise OSError("Wifi Internal Error")
        self._station.connect(ssid, key)

    def disconnect(self):
        self._station.disconnect()

    def isconnected(self):
        return self._station.has_ip()

    def status(self, param=None):
        if param == "rssi":
            net = self._station.joined()
            if net is None or not self._station.has_ip():
                raise OSError("Wifi Not Connected")
            return net.get("rssi", -60)
        if param is not None:
            raise ValueError("unknown status param %r" % (param,))
        station = self._station
        if not station.active or station.ssid is None:
            return STAT_IDLE
        if station.has_ip():
            return STAT_GOT_IP
        if station.attempting():
            return STAT_CONNECTING
        net = sim_wifi.network(station.ssid)
        if net is None:
            return STAT_NO_AP_FOUND
        if station.joined() is None:
            return STAT_WRONG_PASSWORD
        return STAT_CONNECTING  # reconnecting after a lost link

    def ifconfig(self):
        return _ADDRESS if self._station.has_ip() else _NO_ADDRESS

    def ipconfig(self, param):
        address = self.ifconfig()
        if param == "addr4":
            return address[:2]
        if param == "gw4":
            return address[2]
        if param == "dhcp4":
            return True
        raise ValueError("unknown ipconfig param %r" % (param,))

    def config(self, *args, **kwargs):
        if kwargs:
            for name in kwargs:
                if name not in self._config:
                    raise ValueError("unknown config param %r" % (name,))
            self._config.update(kwargs)
            return None
        (param,) = args
        if param == "mac":
            return _MAC
        if param == "ssid":
            return self._station.ssid or ""
        if param == "rssi":
            return self.status("rssi")
        if param in self._config:
            return self._config[param]
        raise ValueError("unknown config param %r" % (param,))

    def scan(self):
        """(ssid, bssid, channel, rssi, security, hidden) per network in range; blocks a while."""
        if not self._station.active:
            raise OSError("Wifi Not Started")
        time.sleep_ms(_SCAN_MS)
        found = []
        for i, net in enumerate(sim_wifi.visible_networks()):
            bssid = _MAC[:5] + bytes((i,))
            found.append((net["ssid"].encode(), bssid, 1 + i % 11, net.get("rssi", -60), _WPA2, 0))
        return found
