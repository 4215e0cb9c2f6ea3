"""The simulated 1-Wire wire: wired-AND of the devices (`onewire_sim`), exact bus time, bus faults.

It offers the firmware's line seam; `build_bus(scenario, clock)` makes one from a scenario."""

# Bus time is AN126 standard speed: a reset costs 960 us and every read or write slot 70 us, so a
# read cycle's duration is exact and repeatable. The bus is given a clock with `now_us()` and
# `advance_us(us)` (on the host board, the virtual clock; under CPython, `SimClock`), and a
# master's sleeps move the same clock. Same source under MicroPython and CPython.
#
# The scenario's `"bus_faults"`, each with an optional window: `{"kind": "bus_short"}` (the line is
# held low: every slot reads 0, a reset looks like a presence pulse, devices lose their state);
# `{"kind": "read_flips", "rate": r, "burst": n}` and `{"kind": "write_flips", ...}` (interference:
# each read, or write, slot starts with chance `r` a burst `n` slot times long (default 1) in which
# every slot of that kind is flipped; a read flip changes what the master reads, a write flip what
# every device receives); `{"kind": "flip", "command": "44", "slot": n, "times": k}` (an exact
# glitch: slot `n` counted from the first bit of that command byte is flipped, the first `k` times,
# every time without `"times"`; slots 1-8 are the command's own bits, 9 the first slot after it;
# the command must be written with `write_byte`, as `_onewire` and the firmware do; `"reset"`
# counts from a reset pulse instead, slot 1 the first slot after it).

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


from onewire_sim import Device, Rng, fault_window

RESET_US = const(960)
SLOT_US = const(70)
_BUS_FAULT_KINDS = ("bus_short", "read_flips", "write_flips", "flip")


class SimClock:
    """A clock for CPython runs: microseconds that move only when something spends time.

    It also serves the firmware's clock seam (`monotonic_ms`, `ticks_ms`, `elapsed_ms`,
    `sleep_ms`)."""

    def __init__(self):
        self.us = 0

    def now_us(self):
        return self.us

    def advance_us(self, us):
        self.us += us

    def monotonic_ms(self):
        return self.us // 1000

    def ticks_ms(self):
        return self.us // 1000

    def elapsed_ms(self, since):
        return self.us // 1000 - since

    def sleep_ms(self, ms):
        if ms > 0:
            self.us += ms * 1000


class _Noise:
    """Flips of one slot kind (read or write) at a rate per slot, in bursts, in a window.

    A burst lasts `burst` slot times from the slot that starts it: every slot of that kind
    inside it is flipped (interference has a duration; a master that waits is past it)."""

    def __init__(self, fault, seed):
        self.window = fault_window(fault)
        self.rate = fault["rate"]
        self.burst_us = fault.get("burst", 1) * SLOT_US
        self.rng = Rng(seed)
        self.left = self.rng.gap(self.rate) if self.rate > 0 else -1  # slots before a burst
        self.burst_end_us = -1
        self.flips = 0

    def flip(self, t_us):
        """True when this slot (scenario time `t_us`) is flipped."""
        if t_us < self.burst_end_us:
            self.flips += 1
            return True
        if self.left < 0 or not self.window[0] <= t_us < self.window[1]:
            return False
        if self.left:
            self.left -= 1
            return False
        self.left = self.rng.gap(self.rate)
        self.burst_end_us = t_us + self.burst_us
        self.flips += 1
        return True


class _ExactFlip:
    """Slot `slot` counted from the first bit of command byte `command` is flipped."""

    def __init__(self, fault):
        self.window = fault_window(fault)
        command = fault["command"]
        self.command = -1 if command == "reset" else int(command, 16)
        self.slot = fault["slot"]
        self.times = fault.get("times", -1)
        self.countdown = 0  # slots until the flip, 0 when not armed
        self.flips = 0


# Positions in the master's traffic (what the bus decodes to place exact flips).
_AT_ROM = const(0)  # the next byte is a ROM command
_AT_MATCH = const(1)  # the 64 ROM bits of Match ROM
_AT_FUNCTION = const(2)  # the next byte is a function command
_AT_DATA = const(3)  # anything else, until the next reset


class SimBus:
    """The wire: wired-AND of every device, bus time on `clock`, bus faults.

    It offers the firmware's line seam (`reset`, `read_bit`, `write_bit`, `read_byte`,
    `write_byte`). `t0_us` is the clock reading at scenario time 0."""

    def __init__(self, devices, clock, bus_faults=(), t0_us=None, seed=1):
        self.devices = devices
        self.clock = clock
        self.bus_faults = []  # (from_us, to_us) of each bus_short
        self.read_noise = []
        self.write_noise = []
        self.exact_flips = []
        for i, fault in enumerate(bus_faults):
            kind = fault.get("kind")
            if kind not in _BUS_FAULT_KINDS:
                raise ValueError("unknown bus fault %r" % fault)
            if kind == "bus_short":
                self.bus_faults.append(fault_window(fault))
            elif kind == "flip":
                self.exact_flips.append(_ExactFlip(fault))
            else:
                noise = self.read_noise if kind == "read_flips" else self.write_noise
                noise.append(_Noise(fault, seed * 7919 + i))
        self.t0_us = clock.now_us() if t0_us is None else t0_us
        self._active = []
        self._at = _AT_DATA
        self._cmd_bits = 0
        self._cmd_acc = 0

    def scenario_us(self, now):
        return now - self.t0_us

    def device(self, rom_hex):
        for d in self.devices:
            if d.rom_hex() == rom_hex:
                return d
        raise KeyError(rom_hex)

    def eeprom_writes(self):
        return sum(d.eeprom_writes for d in self.devices)

    def flips(self):
        """Slots flipped so far by noise and exact glitches."""
        noise = self.read_noise + self.write_noise + self.exact_flips
        return sum(n.flips for n in noise)

    def record_conversions(self):
        """From now on each device keeps `log`: [start_us, end_us, scratchpad] per Convert T
        it started (end and scratchpad None while running or when it never finished)."""
        for d in self.devices:
            d.log = []

    def _shorted(self, now):
        t_us = self.scenario_us(now)
        for from_us, to_us in self.bus_faults:
            if from_us <= t_us < to_us:
                for d in self.devices:
                    d.lose_power()
                self._active = []
                return True
        return False

    def reset(self):
        """A reset pulse; True when something pulled the line low in the presence window."""
        self.clock.advance_us(RESET_US)
        now = self.clock.now_us()
        self._at = _AT_ROM
        self._cmd_bits = self._cmd_acc = 0
        for exact in self.exact_flips:
            exact.countdown = 0
        self._arm_exact_flips(-1, self.scenario_us(now))
        if self._shorted(now):
            return True
        t_us = self.scenario_us(now)
        self._active = [d for d in self.devices if d.reset(now, t_us)]
        return bool(self._active)

    def read_bit(self):
        return self._read_slot(self._spend_slots(1))

    def write_bit(self, bit):
        self._write_slot(bit & 1, self._spend_slots(1))

    def read_byte(self):
        now = self._spend_slots(8)
        value = 0
        for i in range(8):
            value |= self._read_slot(now + i * SLOT_US) << i
        return value

    def write_byte(self, value):
        now = self._spend_slots(8)
        if self._at == _AT_ROM or self._at == _AT_FUNCTION:
            self._arm_exact_flips(value, self.scenario_us(now))
        for i in range(8):
            self._write_slot((value >> i) & 1, now + i * SLOT_US)

    def _spend_slots(self, count):
        """Move the clock by `count` slots (one clock call per byte, not per bit: speed under
        MicroPython); returns the bus time at the end of the first of them."""
        self.clock.advance_us(count * SLOT_US)
        return self.clock.now_us() - (count - 1) * SLOT_US

    def _arm_exact_flips(self, command, t_us):
        for exact in self.exact_flips:
            if exact.command == command and exact.times and exact.countdown == 0:
                if exact.window[0] <= t_us < exact.window[1]:
                    exact.countdown = exact.slot

    def _exact_flip(self):
        flipped = False
        for exact in self.exact_flips:
            if exact.countdown:
                exact.countdown -= 1
                if exact.countdown == 0:
                    exact.times -= 1
                    exact.flips += 1
                    flipped = not flipped
        return flipped

    def _flipped(self, noise, t_us):
        flipped = self._exact_flip() if self.exact_flips else False
        for n in noise:
            if n.flip(t_us):
                flipped = not flipped
        return flipped

    def _read_slot(self, now):
        if self._shorted(now):
            return 0
        t_us = self.scenario_us(now)
        level = 1
        for d in self._active:
            level &= d.read(now, t_us)
        if self._flipped(self.read_noise, t_us):
            level ^= 1
        return level

    def _write_slot(self, bit, now):
        if self._shorted(now):
            return
        t_us = self.scenario_us(now)
        self._follow(bit)
        if self._flipped(self.write_noise, t_us):
            bit ^= 1
        active = self._active
        i = 0
        while i < len(active):
            if active[i].write(bit, now, t_us):
                i += 1
            else:
                active.pop(i)

    def _follow(self, bit):
        """Track where the master is in its traffic (the bit it meant to write)."""
        at = self._at
        if at == _AT_DATA:
            return
        self._cmd_bits += 1
        if at == _AT_MATCH:
            if self._cmd_bits == 64:
                self._at, self._cmd_bits = _AT_FUNCTION, 0
            return
        self._cmd_acc |= bit << (self._cmd_bits - 1)
        if self._cmd_bits < 8:
            return
        byte, self._cmd_bits, self._cmd_acc = self._cmd_acc, 0, 0
        if at == _AT_ROM and byte == 0x55:
            self._at = _AT_MATCH
        elif at == _AT_ROM and byte == 0xCC:
            self._at = _AT_FUNCTION
        else:
            self._at = _AT_DATA


def build_bus(scenario, clock, t0_us=None):
    """A SimBus from a scenario dict (see the module docstring)."""
    seed = scenario.get("seed", 1)
    devices = [Device(spec, seed + i) for i, spec in enumerate(scenario.get("sensors", []))]
    return SimBus(devices, clock, scenario.get("bus_faults", ()), t0_us, seed)
