# RAM: what the sensor stack allocates per read cycle and keeps for 10 sensors, on every
# interpreter (on 32-bit ones small integers end at 2**30, as on an ESP32 or an RP2040: a
# millisecond count past 12.4 days, or a Unix time, is a heap object there).
#
# The simulated hardware runs in the same interpreter, compiled from source: its 1-Wire bus
# and its `time` module are C on a board. Their allocations are left out (`HardwareMeter`):
# the firmware's bytes are those allocated between two calls into the hardware, with the GC
# off; a collection made inside a hardware call, when the heap runs low, cannot hide any.
import gc
import time

import _onewire
from sensor_board import bank_for, board_bus, genuine
from tempnode.clock import Clock
from tempnode.sensors import SensorBank

HEAPSIZE = "192k"
# Ticks start 3 s before they wrap (2**30 ms), so the first cycles cross the wrap.
ENV = {"TEMPNODE_VCLOCK_STILL": "1", "TEMPNODE_TICKS_START": "1073738824"}

WALL_TIME = 1796083200  # 2026-12-01, a Unix time above 2**30
TICKS_PERIOD_MS = 1 << 30
_NONE = object()
_LOW_BYTES = 16 * 1024


class HardwareMeter:
    """Counts the bytes the firmware allocates, leaving out what the calls it wraps allocate."""

    def __init__(self):
        self.firmware_bytes = 0
        self._mark = 0

    def wrap(self, operation):
        def call(a=_NONE, b=_NONE):  # no *args: a tuple per call would count as the firmware's
            self.firmware_bytes += gc.mem_alloc() - self._mark
            if gc.mem_free() < _LOW_BYTES:
                gc.collect()
            if a is _NONE:
                result = operation()
            elif b is _NONE:
                result = operation(a)
            else:
                result = operation(a, b)
            self._mark = gc.mem_alloc()
            return result

        return call

    def measure(self, action, times):
        """Bytes the firmware allocates per call of `action()`, over `times` calls."""
        gc.collect()
        gc.disable()
        try:
            self.firmware_bytes = 0
            self._mark = gc.mem_alloc()
            for _ in range(times):
                action()
            self.firmware_bytes += gc.mem_alloc() - self._mark
        finally:
            gc.enable()
        return self.firmware_bytes // times


class MeteredBus:
    """The simulated bus with every operation metered."""

    def __init__(self, sim, meter):
        for name in ("reset", "read_bit", "write_bit", "read_byte", "write_byte"):
            setattr(self, name, meter.wrap(getattr(sim, name)))


def metered_board(count):
    """A bank of `count` genuine sensors on the simulated board, its hardware metered, and a
    clock that knows the wall time (as after the first reply from the cloud)."""
    meter = HardwareMeter()
    for name in ("ticks_ms", "ticks_us", "ticks_diff", "ticks_add", "sleep_ms", "sleep_us"):
        setattr(time, name, meter.wrap(getattr(time, name)))
    sim, bank = bank_for({"sensors": genuine(count)})
    _onewire.use_bus(MeteredBus(sim, meter))
    bank.clock.set_wall_time(WALL_TIME, "http-date")
    bank.read_cycle()  # first cycle: scan (allocates the ROM list) and resolution check
    return meter, bank


def run_until(clock, uptime_ms):
    """Let the board run (idle) until `clock` has counted `uptime_ms`, reading it every day."""
    day_ms = 24 * 3600 * 1000
    while clock.monotonic_ms() < uptime_ms:
        clock.sleep_ms(min(day_ms, uptime_ms - clock.monotonic_ms()))


def assert_steady_cycles_allocate_nothing(meter, bank, cycles):
    per_cycle = meter.measure(bank.read_cycle, cycles)
    print(
        "10 sensors, uptime %d ms: %d bytes allocated per cycle"
        % (bank.clock.monotonic_ms(), per_cycle)
    )
    assert per_cycle == 0, per_cycle
    assert [r.error for r in bank.readings] == [None] * 10
    assert bank.clock.wall_time() >= WALL_TIME


def test_the_meter_counts_the_firmware_s_bytes_and_not_the_hardware_s():
    meter = HardwareMeter()
    hardware = meter.wrap(lambda: bytearray(40))  # garbage, as small as the simulator's
    kept = []

    def firmware_step():
        for _ in range(20):
            hardware()
        kept.append(bytearray(200))  # the firmware's own: 200 B, its object, the list's growth
        hardware()

    per_step = meter.measure(firmware_step, 200)  # about 200 KB from the hardware: it collects
    assert 200 <= per_step < 400, per_step  # and none of the hardware's 21 x 40 B


def test_a_steady_cycle_of_10_sensors_allocates_nothing_while_the_ticks_wrap():
    meter, bank = metered_board(10)
    before = time.ticks_ms()
    assert_steady_cycles_allocate_nothing(meter, bank, 6)
    assert time.ticks_ms() < before, "the port's ticks were expected to wrap"


def test_a_steady_cycle_allocates_nothing_as_the_uptime_passes_2_30_ms():
    meter, bank = metered_board(10)
    run_until(bank.clock, TICKS_PERIOD_MS - 2000)
    assert_steady_cycles_allocate_nothing(meter, bank, 6)
    assert bank.clock.monotonic_ms() > TICKS_PERIOD_MS


def test_a_steady_cycle_allocates_nothing_after_30_days_of_uptime():
    meter, bank = metered_board(10)
    run_until(bank.clock, 30 * 24 * 3600 * 1000)
    assert_steady_cycles_allocate_nothing(meter, bank, 3)


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
