# The simulated board's Wi-Fi and sockets, under MicroPython, on a scenario timeline in virtual
# time: association, wrong networks, outages the station does and does not notice.
import errno
import json
import socket
import time

import network
import sim_board
from devtest import raises

ENV = {"TEMPNODE_SCENARIO": "scenario.json", "TEMPNODE_VCLOCK_STILL": "1"}

LAB = {"ssid": "lab", "password": "secret-pw", "rssi": -55}
CLOSED_PORT = ("127.0.0.1", 9)


def _scenario(**keys):
    with open("scenario.json", "w") as f:
        json.dump(keys, f)
    sim_board.scenario_ms()  # scenario second 0 is now


def _at(seconds):
    time.sleep_ms(seconds * 1000 - sim_board.scenario_ms())


def _connected_station():
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    wlan.connect("lab", "secret-pw")
    return wlan


def _connect_error(timeout_s=5):
    s = socket.socket()
    s.settimeout(timeout_s)
    try:
        s.connect(CLOSED_PORT)
    except OSError as e:
        return e.errno
    finally:
        s.close()
    return None


def test_station_associates_after_a_while():
    _scenario(wifi=[LAB])
    wlan = network.WLAN(network.STA_IF)
    assert wlan.status() == network.STAT_IDLE
    with raises(OSError):
        wlan.connect("lab", "secret-pw")  # not active yet
    wlan.active(True)
    wlan.connect("lab", "secret-pw")
    assert wlan.status() == network.STAT_CONNECTING and not wlan.isconnected()
    with raises(OSError) as r:
        wlan.connect("lab", "secret-pw")  # as on esp32: not while connecting
    assert "Internal" in str(r.value)
    _at(3)
    assert wlan.isconnected() and wlan.status() == network.STAT_GOT_IP
    assert wlan.ifconfig()[0] != "0.0.0.0"
    assert wlan.status("rssi") == -55 and wlan.config("rssi") == -55
    assert len(wlan.config("mac")) == 6
    wlan.disconnect()
    assert wlan.status() == network.STAT_IDLE and not wlan.isconnected()


def test_unknown_network_and_wrong_password_are_told_apart():
    _scenario(wifi=[LAB])
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    wlan.connect("elsewhere", "secret-pw")
    _at(5)
    assert wlan.status() == network.STAT_NO_AP_FOUND
    wlan.disconnect()
    wlan.connect("lab", "guess")
    _at(10)
    assert wlan.status() == network.STAT_WRONG_PASSWORD
    assert _connect_error() == errno.EHOSTUNREACH


def test_an_outage_fails_sockets_before_the_station_notices_and_heals_after():
    _scenario(wifi=[LAB], wifi_outages=[{"from_s": 100, "to_s": 400}])
    wlan = _connected_station()
    _at(50)
    assert _connect_error() == errno.ECONNREFUSED, "the link is up: the real socket answered"
    _at(101)
    before = sim_board.scenario_ms()
    assert _connect_error(timeout_s=3) == errno.ETIMEDOUT
    assert sim_board.scenario_ms() - before == 3000, "the timeout is spent in virtual time"
    assert wlan.isconnected(), "like real hardware, it has not noticed yet"
    _at(110)
    assert not wlan.isconnected() and wlan.status() == network.STAT_CONNECTING
    assert _connect_error() == errno.EHOSTUNREACH
    _at(401)
    assert not wlan.isconnected()
    _at(403)
    assert wlan.isconnected()
    assert _connect_error() == errno.ECONNREFUSED


def test_a_short_outage_is_never_noticed_but_still_drops_packets():
    _scenario(wifi=[LAB], wifi_outages=[{"from_s": 60, "to_s": 64}])
    wlan = _connected_station()
    _at(61)
    assert _connect_error(timeout_s=1) == errno.ETIMEDOUT
    assert wlan.isconnected()
    _at(70)
    assert wlan.isconnected() and _connect_error() == errno.ECONNREFUSED


def test_a_connection_that_met_an_outage_stays_broken():
    _scenario(wifi=[LAB], wifi_outages=[{"from_s": 30, "to_s": 32}])
    _connected_station()
    _at(10)
    server, port = _listen()
    s = socket.socket()
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    _at(31)
    with raises(OSError) as r:
        s.send(b"x")
    assert r.value.errno == errno.ETIMEDOUT
    _at(40)
    with raises(OSError):
        s.send(b"x")
    s.close()
    server.close()


def _listen():
    """A listening socket on a free port (the unix port has no getsockname)."""
    for port in range(47000, 47100):
        server = socket.socket()
        try:
            server.bind(("127.0.0.1", port))
        except OSError:
            server.close()
            continue
        server.listen(1)
        return server, port
    raise AssertionError("no free port")


def test_name_lookups_fail_in_an_outage_but_numeric_addresses_resolve():
    _scenario(wifi=[LAB], wifi_outages=[{"from_s": 20, "to_s": 80}])
    _connected_station()
    _at(10)
    assert socket.getaddrinfo("localhost", 80)
    _at(21)
    before = sim_board.scenario_ms()
    with raises(OSError) as r:
        socket.getaddrinfo("localhost", 80)
    assert r.value.args[0] == -202
    assert sim_board.scenario_ms() - before == 5000
    assert socket.getaddrinfo("127.0.0.1", 80)


def test_scan_sees_the_networks_unless_the_air_is_down():
    _scenario(wifi=[LAB, {"ssid": "neighbour", "password": "x", "rssi": -80}])
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    found = wlan.scan()
    assert [(ssid, rssi) for ssid, _, _, rssi, _, _ in found] == [
        (b"lab", -55),
        (b"neighbour", -80),
    ]


def test_without_wifi_in_the_scenario_the_board_is_wired():
    _scenario()
    assert _connect_error() == errno.ECONNREFUSED
