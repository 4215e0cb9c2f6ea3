# The read cycle under MicroPython on the simulated board: faults give reasons, never numbers.
import time

from devtest import raises
from sensor_board import bank_for, board_bus, ds18b20, genuine
from tempnode.clock import Clock
from tempnode.sensors import SensorBank

ENV = {"TEMPNODE_VCLOCK_STILL": "1"}


def cycle_us(bank):
    start = time.ticks_us()
    readings = bank.read_cycle()
    return readings, time.ticks_diff(time.ticks_us(), start)


def only(readings):
    assert len(readings) == 1, [r.rom_hex for r in readings]
    return readings[0]


def assert_no_number(reading, reason):
    assert reading.error == reason, (reading.error, reason)
    assert reading.c is None and reading.c16 is None


def test_values_labels_and_rom_ids():
    sim, bank = bank_for({"sensors": [ds18b20(1, 21.5), ds18b20(2, -10.125)]})
    readings = bank.read_cycle()
    assert [r.rom_hex for r in readings] == sorted(d.rom_hex() for d in sim.devices)
    by_rom = {r.rom_hex: r for r in readings}
    assert by_rom[sim.devices[0].rom_hex()].c == 21.5
    assert by_rom[sim.devices[0].rom_hex()].label == "s0"
    assert by_rom[sim.devices[1].rom_hex()].c == -10.125
    for r in readings:
        assert r.error is None and len(r.rom_hex) == 16 and r.rom_hex == r.rom_hex.lower()


def test_a_real_85_degrees_is_reported_as_85():
    _, bank = bank_for({"sensors": [ds18b20(1, 85.0)]})
    assert only(bank.read_cycle()).c == 85.0


def test_power_on_reset_gives_power_on_value_even_after_retries():
    fault = {"kind": "power_on_reset"}
    sim, bank = bank_for({"sensors": [ds18b20(1, 30.0, faults=[fault])]})
    for _ in range(3):
        assert_no_number(only(bank.read_cycle()), "power_on_value")
    # It browns out at each Convert T, so the bus never reads busy: the broadcast is sent
    # again twice (retries), then the scratchpad read says why: 3 conversions per cycle.
    assert sim.devices[0].conversions == 9


def test_a_single_brownout_heals_with_a_fresh_conversion():
    # The first sensor browns out in the broadcast (the second is seen converting); its
    # power-on scratchpad is answered by a conversion of its own, after the window.
    fault = {"kind": "power_on_reset", "from_s": 0, "to_s": 0.5}
    sensors = [ds18b20(1, 30.0, conversion_ms=450, faults=[fault]), ds18b20(2, 31.0)]
    sim, bank = bank_for({"sensors": sensors})
    assert [r.c for r in bank.read_cycle()] == [30.0, 31.0]
    assert [d.conversions for d in sim.devices] == [2, 1]


def test_crc_on_every_transfer_gives_crc():
    _, bank = bank_for({"sensors": [ds18b20(1, 22.0, faults=[{"kind": "crc", "rate": 1.0}])]})
    assert_no_number(only(bank.read_cycle()), "crc")


def test_transient_crc_errors_are_retried_into_values():
    fault = {"kind": "crc", "rate": 0.5}
    sim, bank = bank_for({"sensors": [ds18b20(1, 22.0, faults=[fault])]})
    device = sim.devices[0]
    healed = 0
    for _ in range(20):
        before = device.corrupted_reads
        reading = only(bank.read_cycle())
        if reading.error is None:
            assert reading.c == 22.0
            healed += device.corrupted_reads > before
        else:
            assert_no_number(reading, "crc")
    assert healed >= 5, healed  # cycles whose first read was corrupted and still gave 22.0


def test_without_retries_the_same_glitches_become_crc_reasons():
    fault = {"kind": "crc", "rate": 0.5}
    _, bank = bank_for({"sensors": [ds18b20(1, 22.0, faults=[fault])]}, retries=0)
    errors = [only(bank.read_cycle()).error for _ in range(20)]
    assert errors.count("crc") >= 5, errors


def test_absent_sensor_gives_absent_and_the_others_still_read():
    sensors = [ds18b20(1, 20.0, faults=[{"kind": "absent"}]), ds18b20(2, 23.0)]
    sim, bank = bank_for({"sensors": sensors})
    by_rom = {r.rom_hex: r for r in bank.read_cycle()}
    assert_no_number(by_rom[sim.devices[0].rom_hex()], "absent")
    assert by_rom[sim.devices[1].rom_hex()].c == 23.0


def test_no_device_at_all_gives_absent_for_every_configured_sensor():
    sensors = [ds18b20(i, 20.0, faults=[{"kind": "absent"}]) for i in (1, 2)]
    _, bank = bank_for({"sensors": sensors})
    for r in bank.read_cycle():
        assert_no_number(r, "absent")


def test_bus_shorted_low_gives_bus_short_never_zero_degrees():
    scenario = {"sensors": genuine(3), "bus_faults": [{"kind": "bus_short"}]}
    _, bank = bank_for(scenario)
    for _ in range(2):
        for r in bank.read_cycle():
            assert_no_number(r, "bus_short")


def test_a_short_that_starts_mid_run_and_clears_is_reported_then_recovers():
    scenario = {
        "sensors": genuine(2),
        "bus_faults": [{"kind": "bus_short", "from_s": 2, "to_s": 4}],
    }
    _, bank = bank_for(scenario)
    seen = []
    for _ in range(8):
        readings = bank.read_cycle()
        seen.append(readings[0].error)
        for r in readings:
            assert r.error in (None, "bus_short"), r.error
            assert (r.c is None) == (r.error is not None)
        time.sleep_ms(500)
    assert seen[0] is None and "bus_short" in seen and seen[-1] is None, seen


def test_out_of_range_gives_range():
    _, bank = bank_for({"sensors": [ds18b20(1, 130.0)]})
    assert_no_number(only(bank.read_cycle()), "range")


def test_max31850_fault_bits_give_fault_and_a_good_one_reads():
    faulty = {"family": "3b", "serial": "000000000001", "faults": [{"kind": "thermocouple"}]}
    good = {"family": "3b", "serial": "000000000002"}
    good["temperature"] = {"kind": "constant", "c": 612.75}
    sim, bank = bank_for({"sensors": [faulty, good]})
    by_rom = {r.rom_hex: r for r in bank.read_cycle()}
    assert_no_number(by_rom[sim.devices[0].rom_hex()], "fault")
    assert by_rom[sim.devices[1].rom_hex()].c == 612.75


def test_polling_ends_when_the_slowest_device_is_done():
    # Physical lower bound: broadcast convert (reset + 16 slots) + slowest real conversion
    # + per sensor (reset + 152 slots). Polling adds at most one pause (1/32 of the wait so
    # far, at least 1 ms) plus one slot per poll.
    sim, bank = bank_for({"sensors": genuine(4)})
    bank.read_cycle()  # first cycle: scan
    readings, took = cycle_us(bank)
    slowest = max(d.conversion_us() for d in sim.devices)
    bound = (960 + 16 * 70) + slowest + 4 * (960 + 152 * 70)
    assert bound + 70 <= took <= bound + slowest // 32 + 1070, (took, bound)
    assert took < 750000  # the blind 750 ms wait alone would be longer
    assert [r.c for r in readings] == [20.0, 20.25, 20.5, 20.75]


def test_a_device_that_cannot_be_polled_times_out_once_then_gets_a_fixed_wait():
    sensors = genuine(2)
    sensors[1]["faults"] = [{"kind": "unpollable"}]
    _, bank = bank_for({"sensors": sensors})
    readings, first = cycle_us(bank)
    # A poll that gives up proves nothing: no number, though both scratchpads pass their CRC.
    for r in readings:
        assert_no_number(r, "unconfirmed")
    assert not bank.pollable
    assert first >= 1500000  # 2 x 750 ms of polling
    readings, second = cycle_us(bank)
    assert [r.c for r in readings] == [20.0, 20.25]
    assert 750000 <= second < 800000, second


def test_parasite_power_is_detected_and_waited_for_blind():
    sensors = genuine(2)
    sensors[0]["parasite"] = True
    _, bank = bank_for({"sensors": sensors})
    readings, took = cycle_us(bank)
    assert bank.parasite
    assert [r.c for r in readings] == [20.0, 20.25]
    readings, took = cycle_us(bank)
    assert 750000 <= took < 780000, took


def test_resolution_is_written_once_keeping_th_tl_and_a_reboot_writes_nothing():
    sim, bank = bank_for({"sensors": genuine(3)}, resolution=9)
    bank.read_cycle()
    assert sim.eeprom_writes() == 3 and bank.eeprom_writes == 3
    for d in sim.devices:
        assert d.eeprom[0] == 0x4B and d.eeprom[1] == 0x46  # TH, TL untouched
        assert d.resolution() == 9
    readings, took = cycle_us(bank)
    assert took < 150000, took  # 9-bit conversions (~75 ms) instead of 12-bit
    assert sim.eeprom_writes() == 3
    # The sensors lose power, the board reboots: a new bank on the same devices.
    for d in sim.devices:
        d.power_on()
    config = {d.rom_hex(): {"resolution": 9} for d in sim.devices}
    rebooted = SensorBank(bank.bus, Clock(), config)
    for _ in range(2):
        assert [r.error for r in rebooted.read_cycle()] == [None, None, None]
    assert sim.eeprom_writes() == 3 and rebooted.eeprom_writes == 0


def test_a_clone_that_ignores_the_resolution_keeps_its_eeprom():
    sim, bank = bank_for({"sensors": [ds18b20(1, 20.0, fixed_resolution=True)]}, resolution=9)
    for _ in range(3):
        assert only(bank.read_cycle()).c == 20.0
    assert sim.eeprom_writes() == 0


def test_new_sensors_are_added_on_a_periodic_rescan():
    late = ds18b20(9, 30.0, faults=[{"kind": "absent", "to_s": 3}])
    _, bank = bank_for({"sensors": [ds18b20(1, 20.0), late]}, rescan_cycles=4, configured=1)
    counts = []
    for _ in range(6):
        counts.append(len(bank.read_cycle()))
        time.sleep_ms(1000)
    assert counts == [1, 1, 1, 2, 2, 2], counts
    newcomer = bank.readings[1]
    assert newcomer.label is None and newcomer.c == 30.0


def test_a_sensor_that_vanishes_triggers_a_rescan_that_finds_its_replacement():
    old = ds18b20(1, 20.0, faults=[{"kind": "absent", "from_s": 2}])
    new = ds18b20(2, 25.0, faults=[{"kind": "absent", "to_s": 2}])
    _, bank = bank_for({"sensors": [old, new]}, configured=1)
    history = []
    for _ in range(4):
        history.append([(r.c, r.error) for r in bank.read_cycle()])
        time.sleep_ms(1000)
    assert history[0] == [(20.0, None)], history
    noticed = history.index([(None, "absent")])  # the cycle that noticed ...
    assert history[noticed + 1] == [(None, "absent"), (25.0, None)], history  # ... rescanned


def test_an_unsupported_rom_in_the_config_is_a_clear_error():
    _, bus = board_bus({"sensors": []})
    for rom in ("01ff4a1b02170345", "28ff4a1b0217", "zz"):
        with raises(ValueError) as caught:
            SensorBank(bus, Clock(), {rom: {"label": "x"}})
        assert rom in str(caught.value)
