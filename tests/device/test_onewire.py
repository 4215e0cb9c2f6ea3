# The bus seam on the simulated board: `_onewire` primitives, bus time, AN187 ROM search.
import time

import onewire_sim
from sensor_board import board_bus, ds18b20
from tempnode.onewire_bus import crc8
from tempnode.onewire_search import search, verify

ENV = {"TEMPNODE_VCLOCK_STILL": "1"}


def test_presence_and_an_idle_line_read_through_micropythons_onewire_api():
    _, bus = board_bus({"sensors": [ds18b20(1, 20.0)]})
    assert bus.reset() is True
    _, empty = board_bus({"sensors": []})
    assert empty.reset() is False
    assert empty.read_bit() == 1  # nobody pulls the line: the pull-up reads 1


def test_bus_time_moves_the_virtual_clock_by_an126_standard_speed():
    _, bus = board_bus({"sensors": [ds18b20(1, 20.0)]})
    start = time.ticks_us()
    bus.reset()  # 960 us
    bus.write_byte(0xCC)  # 8 slots of 70 us
    bus.read_bit()
    assert time.ticks_diff(time.ticks_us(), start) == 960 + 9 * 70


def test_read_rom_returns_the_rom_byte_0_first():
    sim, bus = board_bus({"sensors": [{"rom": "28ff4a1b02170345"}]})
    bus.reset()
    bus.write_byte(0x33)
    rom = bytearray(8)
    bus.read_into(rom)
    assert rom.hex() == "28ff4a1b02170345"


def test_search_finds_all_64_devices_with_valid_roms():
    sensors = [ds18b20(0x10000 * i + 7 * i + 1, 20.0) for i in range(64)]
    sim, bus = board_bus({"sensors": sensors})
    found = []
    assert search(bus, found) == (True, 0)
    assert len(found) == 64
    assert sorted(r.hex() for r in found) == sorted(d.rom_hex() for d in sim.devices)
    for rom in found:
        assert crc8(rom) == 0


def test_search_skips_a_rom_with_a_bad_crc_and_finds_the_rest():
    good = [ds18b20(i + 1, 20.0) for i in range(5)]
    bad = {"rom": "2800000000000300"}  # byte 7 is not the CRC of bytes 0-6
    assert crc8(bytes.fromhex(bad["rom"])) != 0
    sim, bus = board_bus({"sensors": good[:2] + [bad] + good[2:]})
    roms = []
    # A device with a bad ROM is read again (5 times), then skipped: the search completes.
    assert search(bus, roms) == (True, 5)
    found = [r.hex() for r in roms]
    assert bad["rom"] not in found
    assert sorted(found) == sorted(onewire_sim.Device(s, 1).rom_hex() for s in good)


def test_search_on_an_empty_or_shorted_bus_finds_nothing():
    _, bus = board_bus({"sensors": []})
    found = []
    assert search(bus, found) == (True, 0) and found == []
    shorted = {"sensors": [ds18b20(1, 20.0)], "bus_faults": [{"kind": "bus_short"}]}
    _, bus = board_bus(shorted)
    assert bus.reset() is True  # a line held low looks like a presence pulse
    complete, _ = search(bus, found)  # ... reads as the all-zero ROM, whose CRC is 0
    assert not complete
    assert found == []


def test_search_finds_every_family():
    sensors = [
        {"family": "28", "serial": "000000000001"},
        {"family": "22", "serial": "000000000002"},
        {"family": "10", "serial": "000000000003"},
        {"family": "3b", "serial": "000000000004"},
    ]
    _, bus = board_bus({"sensors": sensors})
    found = []
    search(bus, found)
    assert sorted(r[0] for r in found) == [0x10, 0x22, 0x28, 0x3B]


def test_verify_finds_a_rom_with_one_targeted_pass_and_not_a_rom_that_is_not_there():
    sim, bus = board_bus({"sensors": [ds18b20(i + 1, 20.0) for i in range(8)]})
    for d in sim.devices:
        assert verify(bus, d.rom), d.rom_hex()
    assert not verify(bus, onewire_sim.Device(ds18b20(99, 20.0), 1).rom)


def test_a_search_on_a_noisy_line_finds_only_real_roms_and_says_when_it_gave_up():
    sensors = [ds18b20(0x10000 * i + 7 * i + 1, 20.0) for i in range(64)]
    for rate, seed in ((0.003, 1), (0.003, 2), (0.02, 3)):
        noise = {"kind": "read_flips", "rate": rate}
        sim, bus = board_bus({"sensors": sensors, "bus_faults": [noise], "seed": seed})
        real = {d.rom for d in sim.devices}
        found = []
        complete, repeated = search(bus, found)
        assert sim.flips() > 10 and repeated > 0, (sim.flips(), repeated)
        assert set(found) <= real  # a flipped read slot never yields a ROM that is not there
        if rate > 0.01:
            assert not complete, len(found)  # 92 % of passes fail: it says it gave up
        else:
            # A pass failed 1 time in 3 and was repeated; a flip may hide a discrepancy (a
            # branch missed without a trace): the scan searches again while a search repeats.
            for _ in range(2):
                complete, _ = search(bus, found)
            assert complete and set(found) == real, (seed, len(found))
