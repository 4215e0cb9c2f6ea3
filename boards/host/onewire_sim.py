"""A bit-level 1-Wire bus with DS18x20 / MAX31850 device models, faults and exact bus time.

The same source runs under MicroPython (the simulated board's `_onewire` sits on it) and under
CPython (the Adafruit cross-check and the sensor benchmark). It never imports `time`: the bus is
given a clock with `now_us()` and `advance_us(us)` (on the host board, the virtual clock; under
CPython, `SimClock`).

Bus time is AN126 standard speed: a reset costs 960 us and every read or write slot 70 us, so a
read cycle's duration is exact and repeatable. A master's sleeps move the same clock.

What the devices implement (DS18B20 datasheet 19-7487 "1-Wire ROM/function commands"):
ROM commands Search (0xF0, with wired-AND bit and complement per AN187), Read ROM (0x33),
Match ROM (0x55), Skip ROM (0xCC); function commands Convert T (0x44), Read Scratchpad (0xBE),
Write Scratchpad (0x4E), Copy Scratchpad (0x48, counted: `eeprom_writes`), Recall E2 (0xB8),
Read Power Supply (0xB4). While a conversion or a copy runs, a read slot returns 0, then 1;
a parasite-powered device cannot drive the bus, so polling it reads 1 at once. A device that
"cannot be polled" keeps answering 0 until the next reset (the master must wait blind).

Scenario JSON (`load_scenario`): the `"sensors"` key is a list of device models and
`"bus_faults"` a list of bus-wide faults; `"seed"` (int) makes fault draws repeatable. A sensor:
`{"rom": "28..."}` (16 hex digits, byte 0 first, taken as is: a bad ROM CRC can be simulated) or
`{"family": "28", "serial": "000000a1b2c3"}` (ROM CRC computed); `"temperature"`: a curve
`{"kind": "constant", "c": 21.5}`, `{"kind": "sine", "mean_c", "amplitude_c", "period_s",
"phase_s"}`, `{"kind": "steps", "steps": [[at_us, c], ...]}`, `{"kind": "ramp", "from_c",
"to_c", "from_s", "to_s"}`; `"conversion_ms"`: its real 12-bit conversion time (resolution
scales it; the DS18S20 and MAX31850 have one); `"resolution"` kept in its EEPROM (9..12);
`"parasite"`: true; `"fixed_resolution"`: true (a clone that ignores a new resolution);
`"cold_junction_c"` (MAX31850); `"faults"`: a list of
`{"kind": K, "from_s": a, "to_s": b}` (window optional, times in scenario seconds) with K one of
`crc` (`"rate"`: chance that one scratchpad transfer has a flipped bit), `absent`,
`power_on_reset` (each conversion ends in a brownout: the 85 C power-on scratchpad),
`unpollable`, `thermocouple` (MAX31850 fault `"bits"`: 1 open, 2 short to GND, 4 short to VDD).
A bus fault is `{"kind": "bus_short", ...window}`: the line is held low (every slot reads 0,
a reset looks like a presence pulse, devices lose their state).
"""

import json
import math

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


RESET_US = const(960)
SLOT_US = const(70)
_COPY_US = const(10000)  # Copy Scratchpad: 10 ms max (DS18B20 datasheet, t_WR)

# Device states.
_IDLE = const(0)  # deselected: ignores slots until the next reset
_ROM_CMD = const(1)
_MATCH = const(2)
_SEARCH = const(3)
_FUNC_CMD = const(4)
_SEND = const(5)  # shifting out `_tx`
_RECEIVE = const(6)  # Write Scratchpad data bytes
_BUSY = const(7)  # converting or copying
_POWER = const(8)  # Read Power Supply answer slot

# Function table of the families: scratchpad layout kind, power-on temperature register,
# default real 12-bit conversion time (us), whether the resolution is programmable.
_KIND_B = const(0)  # DS18B20 / DS1822: 1/16 C register, config byte
_KIND_S = const(1)  # DS18S20: 1/2 C register, COUNT_REMAIN / COUNT_PER_C
_KIND_M = const(2)  # MAX31850: 1/4 C thermocouple, cold junction, fault bits
FAMILIES = {
    0x28: (_KIND_B, 0x0550, 600000),
    0x22: (_KIND_B, 0x0550, 600000),
    0x10: (_KIND_S, 0x00AA, 600000),
    0x3B: (_KIND_M, None, 72000),
}
_FAULT_KINDS = ("crc", "absent", "power_on_reset", "unpollable", "thermocouple")


def crc8(data, crc=0):
    """Dallas/Maxim CRC8 (AN27): x^8+x^5+x^4+1, LSB first.

    The simulated hardware keeps its own copy rather than importing the firmware's: a bug in
    the device under test must not be mirrored by the bench it is tested on."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


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


class _Rng:
    """xorshift32: the same draws under MicroPython and CPython."""

    def __init__(self, seed):
        self.state = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def next(self):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x

    def chance(self, rate):
        return self.next() % 1000000 < int(rate * 1000000)


_FOREVER_US = const(1 << 60)


def _window(fault):
    """A fault's window in whole scenario microseconds: (from_us, to_us)."""
    to_s = fault.get("to_s")
    to_us = _FOREVER_US if to_s is None else int(to_s * 1000000)
    return int(fault.get("from_s", 0) * 1000000), to_us


def _curve_constant(spec, t_s):
    return spec["c"]


def _curve_sine(spec, t_s):
    phase = 2 * math.pi * (t_s + spec.get("phase_s", 0)) / spec["period_s"]
    return spec["mean_c"] + spec["amplitude_c"] * math.sin(phase)


def _curve_steps(spec, t_s):
    value = spec["steps"][0][1]
    for at_s, c in spec["steps"]:
        if at_s <= t_s:
            value = c
    return value


def _curve_ramp(spec, t_s):
    start, end = spec["from_s"], spec["to_s"]
    share = min(1.0, max(0.0, (t_s - start) / (end - start)))
    return spec["from_c"] + (spec["to_c"] - spec["from_c"]) * share


CURVES = {
    "constant": _curve_constant,
    "sine": _curve_sine,
    "steps": _curve_steps,
    "ramp": _curve_ramp,
}


class Device:
    """One sensor on the bus: ROM, scratchpad, EEPROM, conversion timing and faults."""

    def __init__(self, spec, seed):
        self.rom = _rom_of(spec)
        self.family = self.rom[0]
        name = self.rom_hex()
        if self.family not in FAMILIES:
            raise ValueError("sensor %s: family %02x is not simulated" % (name, self.family))
        self.kind, self._power_on_raw, default_conv_us = FAMILIES[self.family]
        self.curve = spec.get("temperature", {"kind": "constant", "c": 20.0})
        if self.curve.get("kind") not in CURVES:
            raise ValueError("sensor %s: unknown temperature curve %r" % (name, self.curve))
        self.conv_us_12bit = int(spec.get("conversion_ms", default_conv_us / 1000) * 1000)
        self.parasite = bool(spec.get("parasite", False))
        self.fixed_resolution = bool(spec.get("fixed_resolution", False))
        self.cold_junction_c = spec.get("cold_junction_c", 25.0)
        self.faults = []  # (kind, from_us, to_us, spec)
        for fault in spec.get("faults", []):
            if fault.get("kind") not in _FAULT_KINDS:
                raise ValueError("sensor %s: unknown fault %r" % (name, fault))
            if fault["kind"] == "power_on_reset" and self._power_on_raw is None:
                raise ValueError("sensor %s: a MAX31850 has no power-on value" % name)
            from_us, to_us = _window(fault)
            self.faults.append((fault["kind"], from_us, to_us, fault))
        resolution = spec.get("resolution", 12)
        # EEPROM: TH, TL, config (Maxim defaults 0x4B, 0x46; DS18B20 datasheet Figure 7).
        self.eeprom = bytearray((0x4B, 0x46, ((resolution - 9) << 5) | 0x1F))
        self.eeprom_writes = 0
        self.conversions = 0
        self.corrupted_reads = 0
        self.rng = _Rng(seed)
        self.scratchpad = bytearray(9)
        self._tx = bytearray(9)
        self._tx_len = 0
        self.power_on()

    def rom_hex(self):
        return "".join("%02x" % b for b in self.rom)

    def power_on(self):
        """Power-on state: the 85 C signature and the EEPROM's TH, TL and config."""
        self.state = _IDLE
        self.busy_until = None
        self._pending_t_us = None
        pad = self.scratchpad
        if self.kind == _KIND_M:
            self._fill_max31850(self.cold_junction_c, 0)
        else:
            raw = self._power_on_raw
            pad[0], pad[1] = raw & 0xFF, raw >> 8
            pad[2], pad[3] = self.eeprom[0], self.eeprom[1]
            pad[4] = self.eeprom[2] if self.kind == _KIND_B else 0xFF
            pad[5], pad[6], pad[7] = 0xFF, 0x0C, 0x10
        pad[8] = crc8(pad[0:8])

    def fault_active(self, kind, t_us):
        """The spec of the `kind` fault whose window holds scenario time `t_us`, or None."""
        for fault_kind, from_us, to_us, fault in self.faults:
            if fault_kind == kind and from_us <= t_us < to_us:
                return fault
        return None

    def resolution(self):
        return ((self.scratchpad[4] >> 5) & 3) + 9 if self.kind == _KIND_B else 12

    def conversion_us(self):
        if self.kind != _KIND_B:
            return self.conv_us_12bit
        return self.conv_us_12bit >> (12 - self.resolution())

    # Bus events. `now` is the bus clock, `t_us` the scenario time, both in whole microseconds
    # (integers: the simulator allocates nothing per slot under MicroPython).

    def reset(self, now, t_us):
        self._settle(now, t_us)
        if self.fault_active("absent", t_us):
            self.state = _IDLE
            return False
        # A conversion in progress goes on (`busy_until`); the device listens for a ROM command.
        self._start_command(_ROM_CMD)
        return True

    def write(self, bit, now, t_us):
        """The master wrote `bit`; returns False when the device drops off the bus until reset."""
        state = self.state
        if state == _SEARCH:
            if self._phase == 2:
                if bit != self._own_bit():
                    self.state = _IDLE
                    return False
                self._bits += 1
                self._phase = 0
                if self._bits == 64:
                    self._start_command(_FUNC_CMD)
            return True
        if state == _MATCH:
            if bit != self._rom_bit(self._bits):
                self.state = _IDLE
                return False
            self._bits += 1
            if self._bits == 64:
                self._start_command(_FUNC_CMD)
            return True
        if state in (_ROM_CMD, _FUNC_CMD, _RECEIVE):
            self._acc |= bit << (self._bits & 7)
            self._bits += 1
            if self._bits & 7 == 0:
                byte, self._acc = self._acc, 0
                if state == _ROM_CMD:
                    return self._rom_command(byte)
                if state == _FUNC_CMD:
                    return self._function(byte, now, t_us)
                return self._receive(byte)
            return True
        return state != _IDLE

    def read(self, now, t_us):
        """The bit this device drives in a read slot (1 = released)."""
        state = self.state
        if state == _SEND:
            if self._bits >= self._tx_len * 8:
                return 1
            bit = (self._tx[self._bits >> 3] >> (self._bits & 7)) & 1
            self._bits += 1
            return bit
        if state == _SEARCH:
            bit = self._own_bit() if self._phase == 0 else self._own_bit() ^ 1
            self._phase += 1
            return bit
        if state == _BUSY:
            self._settle(now, t_us)
            if self.parasite:
                return 1
            if self.busy_until is not None or self.fault_active("unpollable", t_us):
                return 0
            return 1
        if state == _POWER:
            self.state = _IDLE
            return 0 if self.parasite else 1
        return 1

    def lose_power(self):
        """The line was held low: every device is reset; a parasite one loses its scratchpad."""
        if self.parasite:
            self.power_on()
        else:
            self.state = _IDLE
            self.busy_until = None
            self._pending_t_us = None

    # Internals.

    def _rom_bit(self, i):
        return (self.rom[i >> 3] >> (i & 7)) & 1

    def _own_bit(self):
        return self._rom_bit(self._bits)

    def _start_command(self, state):
        self.state = state
        self._bits = 0
        self._acc = 0

    def _rom_command(self, byte):
        if byte == 0xF0:
            self._start_command(_SEARCH)
            self._phase = 0
        elif byte == 0x55:
            self._start_command(_MATCH)
        elif byte == 0xCC:
            self._start_command(_FUNC_CMD)
        elif byte == 0x33:
            self._send(self.rom)
        else:
            self.state = _IDLE  # alarm search and overdrive are not simulated
            return False
        return True

    def _function(self, byte, now, t_us):
        if byte == 0x44:
            self.conversions += 1
            self.state = _BUSY
            self.busy_until = now + self.conversion_us()
            self._pending_t_us = t_us
        elif byte == 0xBE:
            self._settle(now, t_us)
            self._send(self.scratchpad)
            fault = self.fault_active("crc", t_us)
            if fault and self.rng.chance(fault.get("rate", 1.0)):
                bit = self.rng.next() % 72
                self._tx[bit >> 3] ^= 1 << (bit & 7)
                self.corrupted_reads += 1
        elif byte == 0x4E and self.kind != _KIND_M:
            self._start_command(_RECEIVE)
        elif byte == 0x48 and self.kind != _KIND_M:
            self._copy_to_eeprom()
            self.state = _BUSY
            self.busy_until = now + _COPY_US
        elif byte == 0xB8 and self.kind != _KIND_M:
            self._recall()
            self.state = _IDLE
        elif byte == 0xB4:
            self.state = _POWER
        else:
            self.state = _IDLE
            return False
        return True

    def _receive(self, byte):
        # Write Scratchpad: TH, TL, then config on the DS18B20/DS1822 (only R1 R0 are writable).
        index = 2 + (self._bits >> 3) - 1
        if index == 4:
            byte = self.scratchpad[4] if self.fixed_resolution else (byte & 0x60) | 0x1F
        self.scratchpad[index] = byte
        if index == (4 if self.kind == _KIND_B else 3):
            self.scratchpad[8] = crc8(self.scratchpad[0:8])
            self.state = _IDLE
        return True

    def _copy_to_eeprom(self):
        self.eeprom[0], self.eeprom[1] = self.scratchpad[2], self.scratchpad[3]
        if self.kind == _KIND_B:
            self.eeprom[2] = self.scratchpad[4]
        self.eeprom_writes += 1

    def _recall(self):
        self.scratchpad[2], self.scratchpad[3] = self.eeprom[0], self.eeprom[1]
        if self.kind == _KIND_B:
            self.scratchpad[4] = self.eeprom[2]
        self.scratchpad[8] = crc8(self.scratchpad[0:8])

    def _send(self, data):
        self._tx_len = len(data)
        self._tx[0 : self._tx_len] = data
        self.state = _SEND
        self._bits = 0

    def _settle(self, now, t_us):
        """Finish a conversion or copy whose time is up."""
        if self.busy_until is None or now < self.busy_until:
            return
        self.busy_until = None
        if self._pending_t_us is None:
            return  # a copy
        if self.fault_active("power_on_reset", t_us):
            self.power_on()
            return
        temperature = CURVES[self.curve["kind"]](self.curve, self._pending_t_us / 1000000)
        self._convert(temperature, t_us)
        self._pending_t_us = None

    def _convert(self, c, t_us):
        pad = self.scratchpad
        if self.kind == _KIND_B:
            step = 1 << (12 - self.resolution())  # undefined low bits read 0 on genuine parts
            raw = _int16(math.floor(c * 16 / step + 0.5) * step)
            pad[0], pad[1] = raw & 0xFF, (raw >> 8) & 0xFF
            pad[6] = 0x10 - (pad[0] & 0x0F)  # byte 6 after a real conversion (onewire.md)
        elif self.kind == _KIND_S:
            # DS18S20 datasheet "Operation - measuring temperature": the register holds 0.5 C;
            # TEMP_READ is it with bit 0 truncated, COUNT_REMAIN the fraction left (of 16).
            raw = _int16(math.floor(c * 2 + 0.5))
            pad[0], pad[1] = raw & 0xFF, (raw >> 8) & 0xFF
            remain = int(math.floor(16 - (c + 0.25 - (raw >> 1)) * 16 + 0.5))
            pad[6] = min(16, max(0, remain))
        else:
            fault = self.fault_active("thermocouple", t_us)
            self._fill_max31850(c, fault.get("bits", 1) if fault else 0)
        pad[8] = crc8(pad[0:8])

    def _fill_max31850(self, c, fault_bits):
        # MAX31850 datasheet Table 2: thermocouple 14 bits of 0.25 C in bytes 0-1 with the fault
        # flag in bit 0; cold junction 12 bits of 1/16 C in bytes 2-3 with OC/SCG/SCV in bits 2:0.
        pad = self.scratchpad
        tc = (_int16(math.floor(c * 4 + 0.5) << 2) & 0xFFFC) | (1 if fault_bits else 0)
        cj = (_int16(math.floor(self.cold_junction_c * 16 + 0.5) << 4) & 0xFFF0) | fault_bits
        pad[0], pad[1], pad[2], pad[3] = tc & 0xFF, tc >> 8, cj & 0xFF, cj >> 8
        pad[4], pad[5], pad[6], pad[7] = 0xF0, 0xFF, 0xFF, 0xFF


def _int16(value):
    """`value` (a whole number) saturated to a signed 16-bit register."""
    return max(-32768, min(32767, int(value)))


def _rom_of(spec):
    if "rom" in spec:
        rom = bytes.fromhex(spec["rom"])
        if len(rom) != 8:
            raise ValueError("sensor rom %r is not 16 hex digits" % spec["rom"])
        return rom
    body = bytes.fromhex(spec["family"] + spec["serial"])
    if len(body) != 7:
        raise ValueError("sensor serial %r is not 12 hex digits" % spec["serial"])
    return body + bytes((crc8(body),))


class SimBus:
    """The wire: wired-AND of every device, bus time on `clock`, bus faults.

    It offers the firmware's line seam (`reset`, `read_bit`, `write_bit`, `read_byte`,
    `write_byte`). `t0_us` is the clock reading at scenario time 0."""

    def __init__(self, devices, clock, bus_faults=(), t0_us=None):
        self.devices = devices
        self.clock = clock
        self.bus_faults = []  # (from_us, to_us) of each bus_short
        for fault in bus_faults:
            if fault.get("kind") != "bus_short":
                raise ValueError("unknown bus fault %r" % fault)
            self.bus_faults.append(_window(fault))
        self.t0_us = clock.now_us() if t0_us is None else t0_us
        self._active = []

    def scenario_us(self, now):
        return now - self.t0_us

    def device(self, rom_hex):
        for d in self.devices:
            if d.rom_hex() == rom_hex:
                return d
        raise KeyError(rom_hex)

    def eeprom_writes(self):
        return sum(d.eeprom_writes for d in self.devices)

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
        for i in range(8):
            self._write_slot((value >> i) & 1, now + i * SLOT_US)

    def _spend_slots(self, count):
        """Move the clock by `count` slots (one clock call per byte, not per bit: speed under
        MicroPython); returns the bus time at the end of the first of them."""
        self.clock.advance_us(count * SLOT_US)
        return self.clock.now_us() - (count - 1) * SLOT_US

    def _read_slot(self, now):
        if self._shorted(now):
            return 0
        t_us = self.scenario_us(now)
        level = 1
        for d in self._active:
            level &= d.read(now, t_us)
        return level

    def _write_slot(self, bit, now):
        if self._shorted(now):
            return
        t_us = self.scenario_us(now)
        active = self._active
        i = 0
        while i < len(active):
            if active[i].write(bit, now, t_us):
                i += 1
            else:
                active.pop(i)


def build_bus(scenario, clock, t0_us=None):
    """A SimBus from a scenario dict (see the module docstring)."""
    seed = scenario.get("seed", 1)
    devices = [Device(spec, seed + i) for i, spec in enumerate(scenario.get("sensors", []))]
    return SimBus(devices, clock, scenario.get("bus_faults", ()), t0_us)


def load_scenario(path):
    with open(path) as f:
        return json.load(f)
