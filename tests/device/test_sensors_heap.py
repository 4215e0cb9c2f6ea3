# RAM: what the sensor stack allocates per read cycle and keeps for 10 sensors. The simulated
# hardware runs in the same interpreter (compiled from source, which needs more heap than the
# firmware's .mpy), so its allocations are metered separately (`MeteredBus`) and left out.
import gc

import _onewire
from sensor_board import bank_for, board_bus, genuine
from tempnode.clock import Clock
from tempnode.sensors import SensorBank

HEAPSIZE = "192k"
ENV = {"TEMPNODE_VCLOCK_STILL": "1"}


class MeteredBus:
    """The simulated bus, counting the bytes it allocates itself (GC disabled meanwhile)."""

    def __init__(self, sim):
        self.sim_bytes = 0
        self.reset = self._metered(sim.reset)
        self.read_bit = self._metered(sim.read_bit)
        self.write_bit = self._metered(sim.write_bit)
        self.read_byte = self._metered(sim.read_byte)
        self.write_byte = self._metered(sim.write_byte)

    def _metered(self, operation):
        def call(value=None):  # no *args: a tuple per call would be counted as the driver's
            before = gc.mem_alloc()
            result = operation() if value is None else operation(value)
            self.sim_bytes += gc.mem_alloc() - before
            return result

        return call


def driver_bytes_per_cycle(bank, metered, cycles):
    gc.collect()
    gc.disable()
    try:
        metered.sim_bytes = 0
        before = gc.mem_alloc()
        for _ in range(cycles):
            bank.read_cycle()
        total = gc.mem_alloc() - before
    finally:
        gc.enable()
    return (total - metered.sim_bytes) // cycles


def test_a_steady_cycle_of_10_sensors_allocates_nothing():
    sim, bank = bank_for({"sensors": genuine(10)})
    metered = MeteredBus(sim)
    _onewire.use_bus(metered)
    bank.read_cycle()  # first cycle: scan (allocates the ROM list) and resolution check
    per_cycle = driver_bytes_per_cycle(bank, metered, 3)
    print("sensor stack, 10 sensors: %d bytes allocated per cycle" % per_cycle)
    assert per_cycle == 0, per_cycle
    assert [r.error for r in bank.readings] == [None] * 10


def test_the_bank_for_10_sensors_keeps_under_5_kb():
    sim, bus = board_bus({"sensors": genuine(10)})
    config = {d.rom_hex(): {"label": "sensor %d" % i} for i, d in enumerate(sim.devices)}
    gc.collect()
    before = gc.mem_alloc()
    bank = SensorBank(bus, Clock(), config)
    bank.read_cycle()
    gc.collect()
    kept = gc.mem_alloc() - before
    print("sensor bank for 10 sensors keeps %d bytes" % kept)
    assert [r.error for r in bank.readings] == [None] * 10
    assert kept < 5 * 1024, kept
