"""CPython access to the 1-Wire simulator, the firmware's sensor stack and Adafruit's drivers.

The simulator (`boards/host/onewire_sim.py` and `onewire_wire.py`) is loaded by file path: putting
`boards/host` on `sys.path` would shadow CPython's `time` with the simulated board's. The firmware
and Adafruit's CircuitPython drivers import `micropython.const`; Adafruit's also import
`onewireio`, `microcontroller` and `circuitpython_typing` (their annotations are evaluated at
import), so `install_fakes()` puts small stand-ins for those four into `sys.modules`. The fake
`onewireio.OneWire(pin)` takes a simulated bus as its "pin" and keeps CircuitPython's convention:
`reset()` is True when *no* device answered.
"""

import importlib.util
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = REPO / "boards" / "host"


def _load(name):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HOST / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def load_sim():
    """The simulator's wire module (`onewire_wire`), its devices (`onewire_sim`) loaded first."""
    _load("onewire_sim")
    return _load("onewire_wire")


class FakeOneWireIO:
    """`onewireio.OneWire` on a `SimBus`: the four calls Adafruit's bus makes."""

    def __init__(self, sim_bus):
        self._bus = sim_bus

    def reset(self):
        return not self._bus.reset()

    def read_bit(self):
        return bool(self._bus.read_bit())

    def write_bit(self, value):
        self._bus.write_bit(1 if value else 0)

    def deinit(self):
        pass


def _module(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module


def install_fakes():
    """Stand-ins for the CircuitPython/MicroPython-only modules, and the firmware on the path."""
    if "onewireio" in sys.modules:
        return
    _module("micropython", const=lambda value: value)
    _module("onewireio", OneWire=FakeOneWireIO)
    _module("microcontroller", Pin=object)
    _module("circuitpython_typing", ReadableBuffer=bytes, WriteableBuffer=bytearray)
    firmware = str(REPO / "firmware")
    if firmware not in sys.path:
        sys.path.insert(0, firmware)


class SimTime:
    """What Adafruit's driver reads as `time`: the simulator's clock, in seconds.

    On a board `time.monotonic()` advances while the bus is busy; on the simulator bus time
    is simulated, so the driver's conversion timeout must read the simulated clock."""

    def __init__(self, clock):
        self._clock = clock

    def monotonic(self):
        return self._clock.now_us() / 1e6


def sim_bus(scenario):
    """A fresh simulated bus for `scenario` on its own clock: (bus, clock)."""
    sim = load_sim()
    clock = sim.SimClock()
    return sim.build_bus(scenario, clock), clock


def adafruit_bus(bus, clock):
    """Adafruit's `OneWireBus` on a simulated bus, its DS18X20 module timed by the bus clock."""
    install_fakes()
    import adafruit_ds18x20
    from adafruit_onewire.bus import OneWireBus

    adafruit_ds18x20.time = SimTime(clock)
    return OneWireBus(bus)


def our_bank(bus, clock, sensors=None, retries=2, line=None):
    """The firmware's `SensorBank` on a simulated bus (through `line` if given)."""
    install_fakes()
    from tempnode.onewire_bus import OneWire
    from tempnode.sensors import SensorBank

    return SensorBank(OneWire(line or bus), clock, sensors, retries)


def genuine_sensors(count, resolution=12, family="28"):
    """`count` sensor models with genuine-like 12-bit conversion times of 580-615 ms, at
    temperatures every resolution represents exactly (whole half degrees)."""
    return [
        {
            "family": family,
            "serial": "%012x" % (0x1A2B00 + i),
            "conversion_ms": 580 + (i * 7) % 36,
            "resolution": resolution,
            "temperature": {"kind": "constant", "c": 18 + (i * 0.5) % 10},
        }
        for i in range(count)
    ]
