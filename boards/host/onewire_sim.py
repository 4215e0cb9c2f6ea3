"""The simulated 1-Wire devices: DS18B20, DS1822, DS18S20 and MAX31850 models and their faults.

The wire they sit on, with its own faults and exact bus time, is `onewire_wire.SimBus`."""

# (The reference is kept in comments: the simulated board compiles this module from source
# inside the firmware's heap, where a long docstring is one more large string to allocate, and
# the simulator is two modules for the same reason: a smaller peak while one is compiled.)
#
# The same source runs under MicroPython (the simulated board's `_onewire` sits on it) and under
# CPython (the Adafruit cross-check and the sensor benchmarks). It never imports `time`. Every
# random draw comes from one xorshift generator per device and one per noise fault, seeded from
# the scenario's `"seed"`: a run is the same every time.
#
# What the devices implement (DS18B20 datasheet 19-7487 "1-Wire ROM/function commands"):
# ROM commands Search (0xF0, with wired-AND bit and complement per AN187), Read ROM (0x33),
# Match ROM (0x55), Skip ROM (0xCC); function commands Convert T (0x44), Read Scratchpad (0xBE),
# Write Scratchpad (0x4E), Copy Scratchpad (0x48, counted: `eeprom_writes`), Recall E2 (0xB8),
# Read Power Supply (0xB4: the answer is repeated in every read slot until the next reset).
# While a conversion or a copy runs, a read slot returns 0, then 1; a parasite-powered device
# cannot drive the bus, so polling it reads 1 at once, and a parasite device that is converting
# browns out (power-on state, the conversion lost) when the master holds the line low for a
# reset or a write-0 slot: with no strong pull-up the line is its only supply. A device that
# "cannot be polled" keeps answering 0 until the next reset (the master must wait blind).
# With `log` set (`SimBus.record_conversions()`), a device keeps each conversion's start and end
# in scenario microseconds and the scratchpad it produced (None when it never finished): the
# ground truth of the invariant tests.
#
# A sensor in the scenario's `"sensors"` list:
# `{"rom": "28..."}` (16 hex digits, byte 0 first, taken as is: a bad ROM CRC can be simulated) or
# `{"family": "28", "serial": "000000a1b2c3"}` (ROM CRC computed); `"temperature"`: a curve
# `{"kind": "constant", "c": 21.5}`, `{"kind": "sine", "mean_c", "amplitude_c", "period_s",
# "phase_s"}`, `{"kind": "steps", "steps": [[at_us, c], ...]}`, `{"kind": "ramp", "from_c",
# "to_c", "from_s", "to_s"}`; `"conversion_ms"`: its real 12-bit conversion time (resolution
# scales it; the DS18S20 and MAX31850 have one); `"resolution"` kept in its EEPROM (9..12);
# `"parasite"`: true; `"fixed_resolution"`: true (a clone that ignores a new resolution);
# `"cold_junction_c"` and `"power_up_c"` (MAX31850: what its power-up scratchpad decodes to,
# 0.0 by default; the datasheet gives it no signature); `"faults"`: a list of
# `{"kind": K, "from_s": a, "to_s": b}` (window optional, times in scenario seconds) with K one of
# `crc` (`"rate"`: chance that one scratchpad transfer has a flipped bit), `absent` (unplugged:
# it powers up afresh when the window ends), `power_on_reset` (each Convert T browns it out at
# once: power-on scratchpad, no conversion), `unpollable`, `thermocouple` (MAX31850 fault
# `"bits"`: 1 open, 2 short to GND, 4 short to VDD), `parasite` (VDD lost: parasite powered in
# the window, external again after it), `deaf` (it ignores the function command `"command"`,
# hex, the first `"times"` times it is sent in the window, all of them without `"times"`),
# `slow` (each conversion takes `"conversion_ms"`, beyond its datasheet maximum if you like),
# `stuck` (it answers 0 in every read slot of Read Scratchpad and Read Power Supply: its read-out
# is dead, the rest of it works).

import json
import math

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


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
_POWER = const(8)  # Read Power Supply answer slots
_ZEROS = const(9)  # a stuck device: every read slot 0

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
_FAULT_KINDS = (
    "crc",
    "absent",
    "power_on_reset",
    "unpollable",
    "thermocouple",
    "parasite",
    "deaf",
    "slow",
    "stuck",
)


def crc8(data, crc=0):
    """Dallas/Maxim CRC8 (AN27): x^8+x^5+x^4+1, LSB first.

    The simulated hardware keeps its own copy rather than importing the firmware's: a bug in
    the device under test must not be mirrored by the bench it is tested on."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


class Rng:
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

    def gap(self, rate):
        """Trials before the next success of a per-trial chance `rate` (geometric): drawn once
        per event, so a noisy slot costs a counter compare, not a random draw."""
        if rate >= 1:
            return 0
        u = (self.next() + 1) / 4294967297
        return int(math.log(u) / math.log(1 - rate))


_FOREVER_US = const(1 << 60)


def fault_window(fault):
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
        self.wired_parasite = bool(spec.get("parasite", False))
        self.fixed_resolution = bool(spec.get("fixed_resolution", False))
        self.cold_junction_c = spec.get("cold_junction_c", 25.0)
        self.power_up_c = spec.get("power_up_c", 0.0)
        self.faults = []  # (kind, from_us, to_us, spec)
        for fault in spec.get("faults", []):
            if fault.get("kind") not in _FAULT_KINDS:
                raise ValueError("sensor %s: unknown fault %r" % (name, fault))
            from_us, to_us = fault_window(fault)
            self.faults.append((fault["kind"], from_us, to_us, fault))
        self._deaf_count = {}  # id of a `deaf` fault -> commands ignored so far
        resolution = spec.get("resolution", 12)
        # EEPROM: TH, TL, config (Maxim defaults 0x4B, 0x46; DS18B20 datasheet Figure 7).
        self.eeprom = bytearray((0x4B, 0x46, ((resolution - 9) << 5) | 0x1F))
        self.eeprom_writes = 0
        self.conversions = 0
        self.corrupted_reads = 0
        self.log = None  # [(start_us, end_us, scratchpad bytes or None)] when recording
        self._log_entry = None
        self.rng = Rng(seed)
        self.scratchpad = bytearray(9)
        self._tx = bytearray(9)
        self._tx_len = 0
        self._unplugged = False
        self.power_on()

    def rom_hex(self):
        return "".join("%02x" % b for b in self.rom)

    def power_on(self):
        """Power-on state: the 85 C signature and the EEPROM's TH, TL and config (DS18x20), or
        the MAX31850's power-up scratchpad, which is not a conversion."""
        self.state = _IDLE
        self._end_conversion(None)
        pad = self.scratchpad
        if self.kind == _KIND_M:
            self._fill_max31850(self.power_up_c, 0, self.power_up_c)
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

    def parasite(self, t_us):
        return self.wired_parasite or self.fault_active("parasite", t_us) is not None

    def resolution(self):
        return ((self.scratchpad[4] >> 5) & 3) + 9 if self.kind == _KIND_B else 12

    def conversion_us(self, t_us=0):
        slow = self.fault_active("slow", t_us)
        if slow:
            return int(slow["conversion_ms"] * 1000)
        if self.kind != _KIND_B:
            return self.conv_us_12bit
        return self.conv_us_12bit >> (12 - self.resolution())

    # Bus events. `now` is the bus clock, `t_us` the scenario time, both in whole microseconds
    # (integers: the simulator allocates nothing per slot under MicroPython).

    def reset(self, now, t_us):
        self._settle(now, t_us)
        if self.fault_active("absent", t_us):
            self._unplugged = True
            self.state = _IDLE
            return False
        if self._unplugged:  # plugged back in: it powers up afresh
            self._unplugged = False
            self.power_on()
        self.line_held_low(t_us)
        # A conversion in progress goes on (`busy_until`); the device listens for a ROM command.
        self._start_command(_ROM_CMD)
        return True

    def line_held_low(self, t_us):
        """A reset or write-0 slot: a converting parasite device loses its only supply."""
        if self.busy_until is not None and self._pending_t_us is not None:
            if self.parasite(t_us):
                self.power_on()

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
        if not bit and state == _BUSY:
            self.line_held_low(t_us)
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
            if self.parasite(t_us):
                return 1
            if self.busy_until is not None or self.fault_active("unpollable", t_us):
                return 0
            return 1
        if state == _POWER:
            return 0 if self.parasite(t_us) else 1
        if state == _ZEROS:
            return 0
        return 1

    def lose_power(self):
        """The line was held low: every device is reset; a parasite one loses its scratchpad."""
        if self.wired_parasite:
            self.power_on()
        else:
            self.state = _IDLE
            self._end_conversion(None)

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

    def _deaf_to(self, byte, t_us):
        for fault_kind, from_us, to_us, fault in self.faults:
            if fault_kind != "deaf" or not from_us <= t_us < to_us:
                continue
            if int(fault["command"], 16) != byte:
                continue
            times = fault.get("times")
            done = self._deaf_count.get(id(fault), 0)
            if times is None or done < times:
                self._deaf_count[id(fault)] = done + 1
                return True
        return False

    def _function(self, byte, now, t_us):
        if self._deaf_to(byte, t_us):
            self.state = _IDLE
            return False
        if (byte == 0xBE or byte == 0xB4) and self.fault_active("stuck", t_us):
            self.state = _ZEROS
            return True
        if byte == 0x44:
            self.conversions += 1
            if self.fault_active("power_on_reset", t_us):
                self.power_on()  # the conversion's current browns it out at once
                return False
            self.state = _BUSY
            self.busy_until = now + self.conversion_us(t_us)
            self._pending_t_us = t_us
            if self.log is not None:
                self._log_entry = [t_us, None, None]
                self.log.append(self._log_entry)
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
        temperature = CURVES[self.curve["kind"]](self.curve, self._pending_t_us / 1000000)
        self._convert(temperature, t_us)
        self._end_conversion(t_us)

    def _end_conversion(self, t_us):
        """The conversion in progress ends: done at scenario time `t_us`, or lost (None)."""
        self.busy_until = None
        self._pending_t_us = None
        entry = self._log_entry
        if entry is not None:
            if t_us is not None:
                entry[1], entry[2] = t_us, bytes(self.scratchpad)
            self._log_entry = None

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
            self._fill_max31850(c, fault.get("bits", 1) if fault else 0, self.cold_junction_c)
        pad[8] = crc8(pad[0:8])

    def _fill_max31850(self, c, fault_bits, cold_junction_c):
        # MAX31850 datasheet Table 2: thermocouple 14 bits of 0.25 C in bytes 0-1 with the fault
        # flag in bit 0; cold junction 12 bits of 1/16 C in bytes 2-3 with OC/SCG/SCV in bits 2:0;
        # byte 4 the configuration register (bits 7:4 read 1, AD3:0 wired low here).
        pad = self.scratchpad
        tc = (_int16(math.floor(c * 4 + 0.5) << 2) & 0xFFFC) | (1 if fault_bits else 0)
        cj = (_int16(math.floor(cold_junction_c * 16 + 0.5) << 4) & 0xFFF0) | fault_bits
        pad[0], pad[1], pad[2], pad[3] = tc & 0xFF, tc >> 8, cj & 0xFF, cj >> 8
        pad[4], pad[5], pad[6], pad[7] = 0xF0, 0xFF, 0xFF, 0xFF
        pad[8] = crc8(pad[0:8])


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


def load_scenario(path):
    with open(path) as f:
        return json.load(f)
