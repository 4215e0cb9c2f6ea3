"""Sensor read cycle on a noisy bus: readings delivered, wrong values, reasons, time.

For read-bit error rates 0, 1e-4, 5e-4, 3e-3 and 2e-2 per slot (each read slot flipped with
that chance, `read_flips` in the simulator) and 4, 10 and 64 sensors of mixed families
(DS18B20, DS1822, DS18S20, MAX31850 with genuine-like conversion times, temperatures that
move), 200 read cycles each of `tempnode.sensors.SensorBank` (retries on, the default 2), on
the simulated bus under CPython (the same driver and simulator source the device tests run
under MicroPython):

- delivered: readings with a number, of all readings;
- wrong: numbers that are not a conversion the simulator started in that cycle
  (`tests/device/sensor_truth.py`: the simulator's own record of each conversion);
- the reasons given instead of a number, by kind;
- cycle time over the physical bound of that cycle: (reset + 16 slots) + the slowest real
  conversion + N x (reset + 152 slots), plus a search (N x (reset + 200 slots)) in a cycle that
  scans (onewire.md, "Physical lower bound"), mean and worst.

`--cycles N` runs fewer cycles (the test suite's quick run).
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "device"))

from sensor_sim import install_fakes, our_bank, sim_bus  # noqa: E402

install_fakes()
import tempnode.sensors  # noqa: E402
from sensor_truth import Truth  # noqa: E402

tempnode.sensors.log = lambda line: None  # the scan's console lines would cut the table

RATES = (0, 1e-4, 5e-4, 3e-3, 2e-2)
SIZES = (4, 10, 64)
CYCLES = 200
EVERY_US = 5_000_000
RESET_US = 960
SLOT_US = 70
FAMILIES = ("28", "22", "10", "3b", "28")


def sensors(n):
    """`n` sensors, families in turn, each on its own slowly moving temperature."""
    specs = []
    for i in range(n):
        family = FAMILIES[i % len(FAMILIES)]
        spec = {"family": family, "serial": "%012x" % (0x5E0000 + i)}
        spec["conversion_ms"] = 72 + i % 20 if family == "3b" else 580 + (i * 7) % 36
        spec["temperature"] = {
            "kind": "sine",
            "mean_c": 200.0 if family == "3b" else 20.0,
            "amplitude_c": 5.0 + i % 7,
            "period_s": 3600 + 97 * i,
        }
        specs.append(spec)
    return specs


def bound_us(bus, scanned):
    n = len(bus.devices)
    slowest = max(d.conversion_us() for d in bus.devices)
    bound = (RESET_US + 16 * SLOT_US) + slowest + n * (RESET_US + 152 * SLOT_US)
    return bound + (n * (RESET_US + 200 * SLOT_US) if scanned else 0)


def run(n, rate, cycles):
    scenario = {"seed": 12 + n, "sensors": sensors(n)}
    if rate:
        scenario["bus_faults"] = [{"kind": "read_flips", "rate": rate}]
    bus, clock = sim_bus(scenario)
    bank = our_bank(bus, clock, {d.rom_hex(): {} for d in bus.devices})
    truth = Truth(bus)
    reasons = Counter()
    wrong = 0
    ratios = []
    for _ in range(cycles):
        scans = bank.cycles % bank.rescan_cycles == bank.rescan_cycles - 1 or bank._scan_due
        start = clock.now_us()
        readings, bad = truth.cycle(bank)
        ratios.append((clock.now_us() - start) / bound_us(bus, scans))
        wrong += len(bad)
        reasons.update(r.error for r in readings if r.error is not None)
        clock.advance_us(EVERY_US)
    total = cycles * n
    return {
        "n": n,
        "rate": rate,
        "delivered": 100 * truth.numbers / total,
        "wrong": wrong,
        "reasons": reasons,
        "mean": sum(ratios) / len(ratios),
        "worst": max(ratios),
        "flips": bus.flips(),
    }


def print_table(rows):
    header = (
        f"{'N':>3} {'rate':>7} {'delivered %':>12} {'wrong':>6} {'mean/T_min':>11} "
        f"{'worst/T_min':>12} {'flips':>8}  reasons"
    )
    print(header)
    print("-" * (len(header) + 30))
    for r in rows:
        reasons = " ".join(f"{k}:{v}" for k, v in sorted(r["reasons"].items())) or "-"
        print(
            f"{r['n']:>3} {r['rate']:>7g} {r['delivered']:>12.2f} {r['wrong']:>6} "
            f"{r['mean']:>11.3f} {r['worst']:>12.3f} {r['flips']:>8}  {reasons}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=CYCLES, help="cycles per rate and size")
    args = parser.parse_args(argv)
    rows = [run(n, rate, args.cycles) for n in SIZES for rate in RATES]
    print_table(rows)
    four = {r["rate"]: r for r in rows if r["n"] == 4}
    print(
        f"RESULT wrong_values={sum(r['wrong'] for r in rows)} "
        f"delivered_pct_5e-4={four[5e-4]['delivered']:.2f} "
        f"delivered_pct_3e-3={four[3e-3]['delivered']:.2f} "
        f"worst_clean_ratio={max(r['worst'] for r in rows if r['rate'] == 0):.3f}"
    )


if __name__ == "__main__":
    main()
