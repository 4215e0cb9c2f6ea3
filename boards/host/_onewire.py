"""MicroPython's `_onewire` C module, on the simulated board: the bus is `onewire_wire.SimBus`.

The firmware's `MicroPythonLine` calls these functions exactly as on esp32/rp2/esp8266
(`reset(pin)` True on a presence pulse, `readbit`, `readbyte`, `writebit`, `writebyte`,
`crc8`). The board has one 1-Wire bus (`boards/host.json` `pins.onewire`) with `onewire_sim`
devices on it, built on first use from the scenario file named by `TEMPNODE_SCENARIO` (no file:
a bus with no devices). Bus time moves the board's virtual clock. Scenario second 0 is the
virtual Unix time `TEMPNODE_SCENARIO_T0_MS` (set it when a scenario spans reboots), else the
first use.
"""

import os
import time

import onewire_sim
import onewire_wire


class VirtualClock:
    """The board's virtual time, as the simulator's clock."""

    def now_us(self):
        return time.virtual_us()

    def advance_us(self, us):
        time.advance_us(us)


_bus = None


def bus():
    """The simulated bus (tests reach the devices through it)."""
    global _bus
    if _bus is None:
        path = os.getenv("TEMPNODE_SCENARIO")
        scenario = onewire_sim.load_scenario(path) if path else {}
        t0_ms = os.getenv("TEMPNODE_SCENARIO_T0_MS")
        t0_us = int(t0_ms) * 1000 if t0_ms else None
        _bus = onewire_wire.build_bus(scenario, VirtualClock(), t0_us)
    return _bus


def use_bus(sim_bus):
    """Put `sim_bus` on the board's pin (a test that builds its scenario in code)."""
    global _bus
    _bus = sim_bus


def reset(pin):
    return bus().reset()


def readbit(pin):
    return bus().read_bit()


def readbyte(pin):
    return bus().read_byte()


def writebit(pin, value):
    bus().write_bit(value)


def writebyte(pin, value):
    bus().write_byte(value)


def crc8(data):
    return onewire_sim.crc8(data)
