# Device-test helpers: a scenario on the simulated board's 1-Wire pin, and a SensorBank on it.
import _onewire
import onewire_wire
from tempnode.clock import Clock
from tempnode.onewire_bus import MicroPythonLine, OneWire
from tempnode.sensors import SensorBank

ONEWIRE_PIN = 4  # boards/host.json pins.onewire


def board_bus(scenario):
    """Put `scenario`'s devices on the board's pin: (simulated bus, firmware OneWire)."""
    sim = onewire_wire.build_bus(scenario, _onewire.VirtualClock())
    _onewire.use_bus(sim)
    return sim, OneWire(MicroPythonLine(ONEWIRE_PIN))


def bank_for(scenario, resolution=12, retries=2, rescan_cycles=60, configured=None):
    """A SensorBank configured with every scenario device (or the first `configured`)."""
    sim, bus = board_bus(scenario)
    devices = sim.devices if configured is None else sim.devices[:configured]
    config = {}
    for i, d in enumerate(devices):
        config[d.rom_hex()] = {"label": "s%d" % i, "resolution": resolution}
    return sim, SensorBank(bus, Clock(), config, retries, rescan_cycles)


def ds18b20(serial, c, **extra):
    spec = {"family": "28", "serial": "%012x" % serial}
    spec["temperature"] = {"kind": "constant", "c": c}
    spec.update(extra)
    return spec


def genuine(count, resolution=12):
    """`count` DS18B20 with genuine-like conversion times (580-615 ms at 12 bit)."""
    return [
        ds18b20(i + 1, 20 + i * 0.25, conversion_ms=580 + (i * 7) % 36, resolution=resolution)
        for i in range(count)
    ]
