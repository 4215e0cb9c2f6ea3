"""Our sensor stack against code nobody here wrote: Adafruit's CircuitPython OneWire and DS18x20
drivers (pinned in pyproject, installed without Blinka), run on CPython on the same simulated
bus through a fake `onewireio`. Ours runs through its CircuitPython adapter on the same fake.

Where the two disagree, the test says which one the datasheet backs.
"""

import sys

import pytest
from sensor_sim import REPO, adafruit_bus, genuine_sensors, install_fakes, our_bank, sim_bus

install_fakes()  # the CircuitPython-only modules both drivers import
import adafruit_ds18x20  # noqa: E402
from adafruit_onewire.bus import OneWireBus  # noqa: E402
from tempnode.onewire_bus import CircuitPythonLine, OneWire  # noqa: E402
from tempnode.onewire_search import search  # noqa: E402


def _sensor(family, serial, c, **extra):
    spec = {"family": family, "serial": "%012x" % serial}
    spec["temperature"] = {"kind": "constant", "c": c}
    spec.update(extra)
    return spec


# Values that exercise sign, the 1/16 steps, both range ends, a real 85 C, lower resolutions
# (DS18B20) and the extended-resolution formula (DS18S20).
MIXED = [
    _sensor("28", 1, 21.4375),
    _sensor("28", 2, -10.0625),
    _sensor("28", 3, 0.0),
    _sensor("28", 4, 85.0),
    _sensor("28", 5, 125.0),
    _sensor("28", 6, -55.0),
    _sensor("28", 7, 0.0625),
    _sensor("28", 8, 23.3, resolution=10),
    _sensor("28", 9, -7.9, resolution=9),
    _sensor("10", 10, 25.0),
    _sensor("10", 11, 21.3),
    _sensor("10", 12, -10.55),
    _sensor("10", 13, 0.7),
    _sensor("10", 14, -0.2),
    _sensor("10", 15, 60.9375),
]


def adafruit_read_all(scenario):
    bus, clock = sim_bus(scenario)
    ow = adafruit_bus(bus, clock)
    ow.maximum_devices = 64
    return {bytes(a.rom).hex(): adafruit_ds18x20.DS18X20(ow, a).temperature for a in ow.scan()}


def ours_read_all(scenario, sensors=None):
    bus, clock = sim_bus(scenario)
    bank = our_bank(bus, clock, sensors, line=CircuitPythonLine(bus))
    return {r.rom_hex: (r.c, r.error) for r in bank.read_cycle()}


def test_same_roms_as_adafruit_on_a_64_device_bus():
    families = ("28", "10", "22", "3b")
    scenario = {"sensors": [_sensor(families[i % 4], 0x9E3779 * (i + 1), 20.0) for i in range(64)]}
    bus, clock = sim_bus(scenario)
    ow = adafruit_bus(bus, clock)
    with pytest.raises(RuntimeError, match="Maximum device count of 10"):
        ow.scan()  # Adafruit's default cap
    ow.maximum_devices = 64
    theirs = [bytes(a.rom).hex() for a in ow.scan()]
    bus, clock = sim_bus(scenario)
    roms = []
    assert search(OneWire(CircuitPythonLine(bus)), roms) == (True, 0)
    ours = [rom.hex() for rom in roms]
    assert len(ours) == 64
    # Same set; the order differs because Adafruit takes the 1 branch first at a discrepancy
    # and AN187 the 0 branch: both are complete searches.
    assert sorted(ours) == sorted(theirs) == sorted(d.rom_hex() for d in bus.devices)


def test_same_temperatures_as_adafruit_for_every_family_it_supports():
    scenario = {"sensors": MIXED}
    theirs = adafruit_read_all(scenario)
    ours = ours_read_all(scenario)
    assert set(ours) == set(theirs)
    for rom, celsius in theirs.items():
        assert ours[rom] == (celsius, None), (rom, celsius, ours[rom])
    # And both match the datasheet encodings the simulator produced (spot checks).
    assert sorted(c for c, _ in ours.values()) == [
        -55.0, -10.5625, -10.0625, -8.0, -0.1875, 0.0, 0.0625, 0.6875, 21.3125,
        21.4375, 23.25, 25.0, 60.9375, 85.0, 125.0,
    ]  # fmt: skip


def test_ds18b20_at_12_bit_matches_on_a_bus_of_20():
    scenario = {"sensors": genuine_sensors(20)}
    theirs = adafruit_read_all(scenario)
    ours = ours_read_all(scenario)
    assert {rom: c for rom, (c, _) in ours.items()} == theirs


def test_adafruit_refuses_the_ds1822_and_max31850_that_ours_reads():
    scenario = {"sensors": [_sensor("22", 1, 18.5), _sensor("3b", 2, 420.25)]}
    bus, clock = sim_bus(scenario)
    ow = adafruit_bus(bus, clock)
    for address in ow.scan():
        with pytest.raises(ValueError, match="Incorrect family code"):
            adafruit_ds18x20.DS18X20(ow, address)
    assert sorted(ours_read_all(scenario).values()) == [(18.5, None), (420.25, None)]


def test_power_on_value_adafruit_reports_85_ours_says_power_on_value():
    # Disagreement. DS18B20 datasheet, Table 1 note and "Memory": the temperature register's
    # power-on reset value is +85 C; after a real conversion byte 6 (reserved) reads
    # 0x10 - (byte 0 & 0x0F), i.e. 0x10 at 85.0 C, while the power-on scratchpad has 0x0C.
    # A sensor that browned out during its conversion returns the power-on scratchpad:
    # that is no measurement. Ours is right; Adafruit passes the 85 C spike on.
    scenario = {"sensors": [_sensor("28", 1, 30.0, faults=[{"kind": "power_on_reset"}])]}
    assert list(adafruit_read_all(scenario).values()) == [85.0]
    assert list(ours_read_all(scenario).values()) == [(None, "power_on_value")]


def test_bus_held_low_adafruit_reads_0_degrees_ours_says_bus_short():
    # Disagreement. With the line held low every read slot is 0: the scratchpad reads as nine
    # zero bytes, whose CRC8 is 0 (AN27), so a CRC check passes it. A DS18B20 cannot produce it:
    # byte 4 always has bits 4:0 set and byte 7 is 0x10 (datasheet, Figure 7). Ours is right.
    scenario = {"sensors": [_sensor("28", 1, 30.0)]}
    bus, clock = sim_bus(scenario)
    ow = adafruit_bus(bus, clock)
    sensor = adafruit_ds18x20.DS18X20(ow, ow.scan()[0])
    bus.bus_faults.append((0, 1 << 60))  # the short starts now
    assert sensor.read_temperature() == 0.0  # the non-blocking API: a silent 0.0 C
    with pytest.raises(RuntimeError, match="Timeout waiting for conversion"):
        sensor.temperature  # noqa: B018 - the property reads the sensor
    scenario["bus_faults"] = [{"kind": "bus_short"}]
    sensors = {bus.devices[0].rom_hex(): {"label": "tank"}}
    assert list(ours_read_all(scenario, sensors).values()) == [(None, "bus_short")]


def test_setting_the_resolution_adafruit_clears_th_tl_ours_keeps_them():
    # Disagreement. Write Scratchpad (0x4E) writes TH, TL and the config byte together
    # (datasheet, "Function commands"); Adafruit's resolution setter writes TH = TL = 0,
    # so the alarm thresholds are lost. Ours writes back the TH and TL it just read.
    scenario = {"sensors": [_sensor("28", 1, 20.0)]}
    bus, clock = sim_bus(scenario)
    ow = adafruit_bus(bus, clock)
    sensor = adafruit_ds18x20.DS18X20(ow, ow.scan()[0])
    sensor.resolution = 9
    assert sensor.resolution == 9
    assert bytes(bus.devices[0].scratchpad[2:4]) == b"\x00\x00"
    bus, clock = sim_bus(scenario)
    rom = bus.devices[0].rom_hex()
    bank = our_bank(bus, clock, {rom: {"resolution": 9}})
    assert bank.read_cycle()[0].error is None
    assert bytes(bus.devices[0].scratchpad[2:5]) == b"\x4b\x46\x1f"
    assert bus.devices[0].eeprom_writes == 1


def test_the_fake_onewireio_keeps_circuitpythons_reset_convention():
    bus, _ = sim_bus({"sensors": [_sensor("28", 1, 20.0)]})
    assert OneWireBus(bus).reset() is True  # presence seen
    empty, _ = sim_bus({"sensors": []})
    assert OneWireBus(empty).reset() is False


def test_sensor_cycle_bench_quick_mode_stays_within_5_percent_of_the_bound(capsys):
    sys.path.insert(0, str(REPO / "bench"))
    import sensor_cycle

    sensor_cycle.main(["--quick"])
    lines = capsys.readouterr().out.strip().splitlines()
    result = dict(item.split("=") for item in lines[-1].split()[1:])
    assert lines[-1].startswith("RESULT ")
    assert float(result["worst_ratio_to_bound"]) <= 1.05
    assert float(result["adafruit_over_ours_n10"]) > 5  # per-sensor conversions cost N x 600 ms
