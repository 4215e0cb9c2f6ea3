"""Sensor read cycle: ours against the physical lower bound and against the peers' ways.

For N sensors at resolution R, all on the simulated bus (AN126 standard speed: reset 960 us,
slot 70 us; genuine-like DS18B20 whose real 12-bit conversion takes 580-615 ms, scaled by the
resolution), it times one steady read cycle of:

- ours: `tempnode.sensors.SensorBank.read_cycle()` (broadcast Convert T, poll, read each);
- the physical lower bound T_min(N, R) = (reset + 16 slots) + slowest real conversion
  + N x (reset + 152 slots) (onewire.md, "Physical lower bound");
- Adafruit's driver as shipped (`adafruit_ds18x20.DS18X20.temperature` per sensor: convert one,
  poll it, read it), run for real on the simulator through a fake `onewireio`;
- the stock MicroPython recipe (micropython-lib `ds18x20.py` on `onewire.py`): `convert_temp()`,
  `time.sleep_ms(750)`, `read_temp(rom)` per sensor, where `read_scratch` resets the bus and
  `select_rom` resets it again. Replayed here with the same bus operations.

Ours is timed in four ways for every N and R, each against its own bound (the worst of all
is the RESULT): a steady cycle of configured sensors; the first cycle after boot, which also
searches the bus (bound + N x (reset + 200 slots), AN187: one pass per device); and both for
sensors found by the search and not in the config (their resolution is read from the device).
And on a bus where all sensors but one are parasite powered (waited for blind: the bound takes
the datasheet maximum for the conversion), a steady and a first cycle; the first also reads
every scratchpad before converting (its config byte sizes the wait; on parasite power it is
what the conversion must change): bound + N x (reset + 152 slots).

Times are simulated bus time plus the waits each reader makes, so they are exact and the same
on every run. `--quick` runs N = 1, 4, 10 only.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sensor_sim import adafruit_bus, genuine_sensors, install_fakes, our_bank, sim_bus  # noqa: E402

install_fakes()
import tempnode.sensors  # noqa: E402
from tempnode import ds18x20  # noqa: E402

tempnode.sensors.log = lambda line: None  # the scan's console lines would cut the table

COUNTS = (1, 4, 10, 20, 64)
QUICK_COUNTS = (1, 4, 10)
RESOLUTIONS = (12, 9)
RESET_US = 960
SLOT_US = 70


def lower_bound_us(bus, blind=False):
    n = len(bus.devices)
    if blind:
        slowest = max(ds18x20.conversion_max_us(d.family, d.resolution()) for d in bus.devices)
    else:
        slowest = max(d.conversion_us() for d in bus.devices)
    return (RESET_US + 16 * SLOT_US) + slowest + n * (RESET_US + 152 * SLOT_US)


def search_us(bus):
    return len(bus.devices) * (RESET_US + 200 * SLOT_US)


def check_values(bus, values):
    expected = sorted(d.curve["c"] for d in bus.devices)
    if sorted(values) != expected:
        raise SystemExit(f"wrong readings: {sorted(values)} != {expected}")


def timed(clock, read):
    start = clock.now_us()
    values = read()
    return clock.now_us() - start, values


def ours_us(scenario, resolution, configured=True, parasite=False):
    """Our first and steady cycle: ((first us, its bound), (steady us, its bound))."""
    bus, clock = sim_bus(scenario)
    config = {d.rom_hex(): {"resolution": resolution} for d in bus.devices} if configured else {}
    bank = our_bank(bus, clock, config)
    first, readings = timed(clock, bank.read_cycle)  # the first cycle also scans the bus
    check_values(bus, [r.c for r in readings])
    first_bound = lower_bound_us(bus, parasite) + search_us(bus)
    if parasite:
        first_bound += len(bus.devices) * (RESET_US + 152 * SLOT_US)
    steady, readings = timed(clock, bank.read_cycle)
    check_values(bus, [r.c for r in readings])
    return (first, first_bound), (steady, lower_bound_us(bus, parasite))


def adafruit_us(scenario):
    import adafruit_ds18x20

    bus, clock = sim_bus(scenario)
    ow = adafruit_bus(bus, clock)
    ow.maximum_devices = 64  # its default cap is 10 devices
    sensors = [adafruit_ds18x20.DS18X20(ow, address) for address in ow.scan()]
    took, values = timed(clock, lambda: [s.temperature for s in sensors])
    check_values(bus, values)
    return took


def micropython_recipe_us(scenario):
    bus, clock = sim_bus(scenario)
    roms = [d.rom for d in bus.devices]
    scratchpad = bytearray(9)

    def read_all():
        bus.reset()  # convert_temp(): reset(True), SKIP_ROM, CONVERT
        bus.write_byte(0xCC)
        bus.write_byte(0x44)
        clock.sleep_ms(750)
        values = []
        for rom in roms:
            bus.reset()  # read_scratch(): reset(True) ...
            bus.reset()  # ... then select_rom(): reset(), MATCH_ROM, rom
            bus.write_byte(0x55)
            for byte in rom:
                bus.write_byte(byte)
            bus.write_byte(0xBE)
            for i in range(9):
                scratchpad[i] = bus.read_byte()
            raw = scratchpad[0] | scratchpad[1] << 8
            values.append((raw - 0x10000 if raw & 0x8000 else raw) / 16)
        return values

    took, values = timed(clock, read_all)
    check_values(bus, values)
    return took


def measure(counts):
    rows = []
    for resolution in RESOLUTIONS:
        for n in counts:
            scenario = {"sensors": genuine_sensors(n, resolution)}
            first, steady = ours_us(scenario, resolution)
            first_found, steady_found = ours_us(scenario, resolution, configured=False)
            parasite = genuine_sensors(n, resolution)
            for spec in parasite[1:]:
                spec["parasite"] = True
            # With one sensor, "all but one" is none: the row is the plain one again.
            first_blind, steady_blind = ours_us({"sensors": parasite}, resolution, parasite=n > 1)
            rows.append(
                {
                    "n": n,
                    "bits": resolution,
                    "ours": steady,
                    "first": first,
                    "found": steady_found,
                    "found_first": first_found,
                    "blind": steady_blind,
                    "blind_first": first_blind,
                    "adafruit": adafruit_us(scenario),
                    "micropython": micropython_recipe_us(scenario),
                }
            )
    return rows


KINDS = ("ours", "first", "found", "found_first", "blind", "blind_first")


def ratio(row, kind):
    took, bound = row[kind]
    return took / bound


def print_table(rows):
    header = (
        f"{'N':>3} {'bits':>4} {'ours ms':>9} {'T_min ms':>9} {'ratio':>6} {'first':>6} "
        f"{'found':>6} {'f.first':>7} {'blind':>6} {'b.first':>7} "
        f"{'Adafruit ms':>12} {'MicroPython ms':>15} {'Adafruit/ours':>14}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        ours, bound = r["ours"]
        others = " ".join(f"{ratio(r, k):>{max(6, len(k) - 3)}.3f}" for k in KINDS[1:])
        print(
            f"{r['n']:>3} {r['bits']:>4} {ours / 1000:>9.2f} {bound / 1000:>9.2f} "
            f"{ours / bound:>6.3f} {others} {r['adafruit'] / 1000:>12.2f} "
            f"{r['micropython'] / 1000:>15.2f} {r['adafruit'] / ours:>14.2f}"
        )
    print(
        "ratio: a steady cycle over T_min; first: the first cycle (with its search); found:"
        " sensors not in the config; blind: all but one parasite powered"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1, 4, 10 only")
    args = parser.parse_args(argv)
    rows = measure(QUICK_COUNTS if args.quick else COUNTS)
    print_table(rows)
    worst = max(ratio(r, kind) for r in rows for kind in KINDS)
    n10 = next(r for r in rows if r["n"] == 10 and r["bits"] == 12)
    n10["ours"] = n10["ours"][0]
    print(
        f"RESULT worst_ratio_to_bound={worst:.3f} "
        f"adafruit_over_ours_n10={n10['adafruit'] / n10['ours']:.2f}"
    )


if __name__ == "__main__":
    main()
