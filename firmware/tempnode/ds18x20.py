"""DS18x20-family scratchpads: the families as data, decoding, and what is not a temperature.

Temperatures are whole sixteenths of a degree Celsius (`c16`): every supported family's
resolution divides 1/16 C, so decoding never allocates a float.

| family | part | register | resolution | conversion max (datasheet) |
|---|---|---|---|---|
| 0x28 | DS18B20 | int16, 1/16 C | 9-12 bit (config byte 4) | 93.75 ms << (R - 9) |
| 0x22 | DS1822 | as DS18B20 | as DS18B20 | as DS18B20 |
| 0x10 | DS18S20 | int16, 1/2 C + COUNT_REMAIN / COUNT_PER_C (bytes 6, 7) | fixed | 750 ms |
| 0x3B | MAX31850 | 14 bits of 1/4 C, fault flag bit 0; byte 2: OC/SCG/SCV | fixed | 100 ms |

`reject_reason` checks a 9-byte scratchpad in this order (first match wins):
all 0xFF -> `absent` (nobody drove the bus: a device that did not answer Match ROM; its CRC
fails too, but "absent" says more); all 0x00 -> `bus_short` (the line was held low: eight zero
bytes have CRC 0, so the CRC alone would pass it as 0.0 C); CRC -> `crc`; the power-on
signature -> `power_on_value`; MAX31850 fault bits -> `fault`; outside the family's range ->
`range`. The power-on signature is the 85 C register with byte 6 = 0x0C: a real conversion
leaves 0x10 - (byte 0 & 0x0F) there on a DS18B20 (0x10 at 85.0 C), so a real 85 C passes.
On a DS18S20 byte 6 is COUNT_REMAIN, and a real reading of exactly 85.0 C has the same bytes as
the power-on value (`power_on_ambiguous`): this module rejects it, and the read cycle
(`tempnode.sensors`) tells the two apart with a conversion it watched.

Two more reasons come from the read cycle, not from a scratchpad alone: `stuck` (a device that
answers all zeros while the line itself is healthy) and `unconfirmed` (nothing proves that a
conversion started in this cycle produced the scratchpad: see `tempnode.sensors`).
"""

from micropython import const

from tempnode.onewire_bus import crc8

# No-reading reasons (README, cloud wire contract).
ABSENT = "absent"
BUS_SHORT = "bus_short"
CRC = "crc"
POWER_ON_VALUE = "power_on_value"
FAULT = "fault"
RANGE = "range"
STUCK = "stuck"
UNCONFIRMED = "unconfirmed"
REASONS = (CRC, ABSENT, POWER_ON_VALUE, BUS_SHORT, RANGE, FAULT, STUCK, UNCONFIRMED)

_SCRATCHPAD_POWER_ON_COUNT = const(0x0C)
_MAX_CONVERSION_9BIT_US = const(93750)


def _c16_ds18b20(pad):
    # Bits below the resolution are undefined (DS18B20 datasheet, "Operation - measuring
    # temperature"): clear them instead of trusting a clone to zero them.
    undefined = (1 << (12 - resolution(pad))) - 1
    return _int16(pad) & ~undefined


def _c16_ds18s20(pad):
    # DS18S20 datasheet: T = TEMP_READ - 0.25 + (COUNT_PER_C - COUNT_REMAIN) / COUNT_PER_C,
    # TEMP_READ = register with bit 0 truncated. COUNT_PER_C is 16 on real parts; a zero there
    # (a damaged read that passed the CRC) falls back to the 1/2 C register instead of dividing.
    raw = _int16(pad)
    count_per_c = pad[7]
    if count_per_c == 0:
        return raw * 8
    return (raw >> 1) * 16 - 4 + (count_per_c - pad[6]) * 16 // count_per_c


def _c16_max31850(pad):
    return _int16(pad) & ~3  # bits 15:2 are 1/4 C; bit 0 is the fault flag, bit 1 reserved


def _fault_max31850(pad):
    return pad[0] & 1 or pad[2] & 0x07


# family: (part, programmable resolution, decoder, fault check or None, power-on register or
# None, lowest and highest valid c16, fixed conversion time in us or 0 when set by resolution)
FAMILIES = {
    0x28: ("DS18B20", True, _c16_ds18b20, None, 0x0550, -55 * 16, 125 * 16, 0),
    0x22: ("DS1822", True, _c16_ds18b20, None, 0x0550, -55 * 16, 125 * 16, 0),
    0x10: ("DS18S20", False, _c16_ds18s20, None, 0x00AA, -55 * 16, 125 * 16, 750000),
    # Thermocouple converter: the widest range of its thermocouple types (MAX31850 datasheet).
    0x3B: ("MAX31850", False, _c16_max31850, _fault_max31850, None, -270 * 16, 1800 * 16, 100000),
}


def _int16(pad):
    raw = pad[0] | (pad[1] << 8)
    return raw - 0x10000 if raw & 0x8000 else raw


def _all(pad, value):
    for byte in pad:
        if byte != value:
            return False
    return True


def supported(family):
    return family in FAMILIES


def has_resolution(family):
    return FAMILIES[family][1]


def resolution(pad):
    """Resolution in bits from a DS18B20/DS1822 config byte (0 R1 R0 1 1 1 1 1)."""
    return ((pad[4] >> 5) & 3) + 9


def config_byte(bits):
    return ((bits - 9) << 5) | 0x1F


def power_on_ambiguous(family):
    """True when a real conversion can leave exactly the power-on scratchpad (DS18S20 at
    85.0 C: register 0x00AA, COUNT_REMAIN 0x0C, COUNT_PER_C 0x10)."""
    return family == 0x10


def conversion_max_us(family, bits=12):
    """Datasheet maximum conversion time of one device at `bits` resolution."""
    fixed = FAMILIES[family][7]
    return fixed or _MAX_CONVERSION_9BIT_US << (bits - 9)


def reject_reason(pad, family):
    """Why the 9-byte scratchpad `pad` of a `family` device is not a temperature, or None."""
    if _all(pad, 0xFF):
        return ABSENT
    if _all(pad, 0x00):
        return BUS_SHORT
    if crc8(pad):
        return CRC
    _, _, decode, fault, power_on, low, high, _ = FAMILIES[family]
    if _int16(pad) == power_on and pad[6] == _SCRATCHPAD_POWER_ON_COUNT:
        return POWER_ON_VALUE
    if fault is not None and fault(pad):
        return FAULT
    if not low <= decode(pad) <= high:
        return RANGE
    return None


def c16(pad, family):
    """The temperature in 1/16 C of a scratchpad that `reject_reason` accepted."""
    return FAMILIES[family][2](pad)
