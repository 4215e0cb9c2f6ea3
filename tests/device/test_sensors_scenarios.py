# The example scenarios, loaded the way the simulated board does it: TEMPNODE_SCENARIO names the
# file, `_onewire` builds the bus on first use, scenario time starts then.
import os
import time

import _onewire
from sensor_truth import Truth
from tempnode.clock import Clock
from tempnode.onewire_bus import MicroPythonLine, OneWire
from tempnode.sensors import SensorBank

ENV = {"TEMPNODE_VCLOCK_STILL": "1"}
SCENARIOS = __file__.rsplit("/", 2)[0] + "/scenarios/"


def run(name, every_s, until_s):
    """Cycles every `every_s` scenario seconds, each number checked against the simulator's
    record of conversions; [(t_s, {rom: (c, error)})]."""
    os.putenv("TEMPNODE_SCENARIO", SCENARIOS + name)
    sim = _onewire.bus()
    truth = Truth(sim)
    config = {d.rom_hex(): {"label": d.rom_hex()[-4:]} for d in sim.devices}
    bank = SensorBank(OneWire(MicroPythonLine(4)), Clock(), config)
    history = []
    while True:
        t_s = sim.scenario_us(sim.clock.now_us()) / 1000000
        if t_s >= until_s:
            return sim, history
        readings, wrong = truth.cycle(bank)
        assert not wrong, (t_s, [(r.rom_hex, r.c) for r in wrong])
        history.append((t_s, {r.rom_hex: (r.c, r.error) for r in readings}))
        time.sleep_ms(every_s * 1000)


def test_basic_scenario_reads_every_family_along_its_curve():
    sim, history = run("sensors_basic.json", 600, 4 * 3600)
    tank, fridge, outside, kiln = (d.rom_hex() for d in sim.devices)
    for t_s, results in history:
        assert all(error is None for _, error in results.values()), results
        assert 18.5 <= results[tank][0] <= 23.5
        assert results[fridge][0] == (4.0 if t_s < 3600 else 5.5 if t_s < 7200 else 3.25)
        assert abs(results[outside][0] - (-5.0 + 20.0 * t_s / 43200)) <= 0.1
        assert results[kiln][0] == 250.5


def test_fault_scenario_gives_each_reason_in_its_window_and_values_outside():
    sim, history = run("sensors_faults.json", 5, 260)
    crc, absent, power_on, clone, hot, thermo = (d.rom_hex() for d in sim.devices)
    windows = (
        (crc, 30, 60, "crc", 20.0),
        (absent, 60, 120, "absent", 21.0),
        (power_on, 120, 150, "power_on_value", 22.0),
        (thermo, 150, 180, "fault", 300.0),
    )
    # The clone that cannot be polled makes the first poll give up: that cycle proves nothing
    # and every sensor reads `unconfirmed`; the bus is waited for blind from then on.
    gave_up = [t_s for t_s, r in history if {e for _, e in r.values()} == {"unconfirmed"}]
    assert gave_up == [history[0][0]], gave_up
    for t_s, results in history:
        if t_s in gave_up:
            continue
        if 200 <= t_s < 230:
            assert {error for _, error in results.values()} == {"bus_short"}, (t_s, results)
            continue
        if t_s + 1 >= 200 and t_s < 231:
            continue  # a cycle that straddles the edge of the short
        assert results[hot] == (None, "range")
        assert results[clone] == (23.0, None)
        for rom, start, end, reason, value in windows:
            inside = start + 1 < t_s < end - 1
            outside = t_s + 1 < start or t_s > end + 1
            if inside:
                assert results[rom] == (None, reason), (t_s, rom, results[rom])
            elif outside:
                assert results[rom] == (value, None), (t_s, rom, results[rom])
    assert sim.device(clone).conversions > 0


def test_noisy_scenario_gives_fresh_numbers_and_each_fault_its_reason_in_its_window():
    sim, history = run("sensors_noisy.json", 5, 300)
    room, hot, kiln, lost_vdd, stuck, slow = (d.rom_hex() for d in sim.devices)
    assert sim.flips() > 0
    numbers = {rom: 0 for rom in (room, hot, kiln, lost_vdd, stuck, slow)}
    for t_s, results in history:
        for rom, (c, error) in results.items():
            numbers[rom] += c is not None
            assert (c is None) != (error is None), (t_s, rom, c, error)
        assert results[hot][0] in (85.0, None)  # a real 85 C, after its own watched conversion
        if 101 < t_s < 129:
            assert results[kiln] == (None, "absent"), (t_s, results[kiln])
        if 151 < t_s < 199:
            assert results[stuck] == (None, "stuck"), (t_s, results[stuck])
        elif t_s > 201 or t_s < 149:
            assert results[stuck][1] != "stuck", (t_s, results[stuck])
    cycles = len(history)
    assert numbers[hot] >= cycles * 9 // 10, (numbers, cycles)
    assert numbers[lost_vdd] >= cycles * 9 // 10, (numbers, cycles)  # also without VDD
    assert numbers[slow] >= cycles * 9 // 10, (numbers, cycles)  # 900 ms: polled to the end
