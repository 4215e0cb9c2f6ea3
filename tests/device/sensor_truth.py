# Ground truth for "every reported number is a conversion started in this cycle": the simulator
# records each conversion a device ran (start, end, the scratchpad it produced), and a reading's
# number must be the decoding of one that started in this cycle and finished before it ended.
# Plain Python: the device tests (MicroPython) and bench/sensor_noise.py (CPython) share it.
from tempnode import ds18x20


class Truth:
    def __init__(self, sim):
        self.sim = sim
        self.by_rom = {d.rom_hex(): d for d in sim.devices}
        sim.record_conversions()
        self.start_us = 0
        self.numbers = 0  # readings with a number, checked so far

    def now_us(self):
        return self.sim.scenario_us(self.sim.clock.now_us())

    def begin(self):
        """Before a read cycle: forget older conversions (none of them may be reported)."""
        for d in self.sim.devices:
            d.log.clear()
        self.start_us = self.now_us()

    def wrong(self, readings):
        """After the cycle: the readings whose number no conversion of that cycle produced."""
        end_us = self.now_us()
        wrong = []
        for r in readings:
            if r.c16 is None:
                continue
            self.numbers += 1
            d = self.by_rom.get(r.rom_hex)
            if d is None or not self._produced(d, r.c16, end_us):
                wrong.append(r)
        return wrong

    def _produced(self, d, c16, end_us):
        for start_us, done_us, pad in d.log:
            if pad is None or start_us < self.start_us or done_us > end_us:
                continue
            if ds18x20.c16(pad, d.family) == c16:
                return True
        return False

    def cycle(self, bank):
        """One read cycle, checked: (readings, wrong readings)."""
        self.begin()
        readings = bank.read_cycle()
        return readings, self.wrong(readings)
