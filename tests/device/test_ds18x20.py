# Scratchpad decoding and validation (DS18B20 / DS18S20 / MAX31850 datasheets), no bus involved.
from tempnode import ds18x20
from tempnode.onewire_bus import crc8


def pad(*first8):
    data = bytearray(first8)
    return data + bytes((crc8(data),))


def b20(raw, config=0x7F):
    """A DS18B20 scratchpad after a real conversion of register value `raw`."""
    lsb, msb = raw & 0xFF, (raw >> 8) & 0xFF
    return pad(lsb, msb, 0x4B, 0x46, config, 0xFF, 0x10 - (lsb & 0x0F), 0x10)


def test_crc8_matches_application_note_27():
    assert crc8(b"\x02\x1c\xb8\x01\x00\x00\x00") == 0xA2
    assert crc8(b"\x02\x1c\xb8\x01\x00\x00\x00\xa2") == 0


def test_ds18b20_datasheet_table_1():
    table = (
        (0x07D0, 125.0),
        (0x0550, 85.0),
        (0x0191, 25.0625),
        (0x00A2, 10.125),
        (0x0008, 0.5),
        (0x0000, 0.0),
        (0xFFF8, -0.5),
        (0xFF5E, -10.125),
        (0xFE6F, -25.0625),
        (0xFC90, -55.0),
    )
    for raw, celsius in table:
        scratchpad = b20(raw)
        assert ds18x20.reject_reason(scratchpad, 0x28) is None, hex(raw)
        assert ds18x20.c16(scratchpad, 0x28) / 16 == celsius, hex(raw)


def test_undefined_low_bits_are_cleared_at_lower_resolutions():
    # 9-bit config (0x1F): bits 2:0 are undefined; a clone may leave them set.
    assert ds18x20.c16(b20(0x0197, config=0x1F), 0x28) / 16 == 25.0
    assert ds18x20.c16(b20(0xFE6F, config=0x3F), 0x28) / 16 == -25.25


def test_power_on_value_is_rejected_but_a_real_85_is_not():
    power_on = pad(0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10)
    assert ds18x20.reject_reason(power_on, 0x28) == ds18x20.POWER_ON_VALUE
    assert ds18x20.reject_reason(power_on, 0x22) == ds18x20.POWER_ON_VALUE
    real = b20(0x0550)  # byte 6 = 0x10 after a real conversion
    assert ds18x20.reject_reason(real, 0x28) is None
    assert ds18x20.c16(real, 0x28) / 16 == 85.0


def test_bus_stuck_low_and_silent_device_are_not_temperatures():
    zeros = bytearray(9)
    assert crc8(zeros) == 0  # the trap: it passes the CRC and would read 0.0 C
    assert ds18x20.reject_reason(zeros, 0x28) == ds18x20.BUS_SHORT
    assert ds18x20.reject_reason(b"\xff" * 9, 0x28) == ds18x20.ABSENT


def test_a_flipped_bit_fails_the_crc():
    scratchpad = b20(0x0191)
    scratchpad[0] ^= 0x04
    assert ds18x20.reject_reason(scratchpad, 0x28) == ds18x20.CRC


def test_out_of_range_is_rejected():
    assert ds18x20.reject_reason(b20(0x07E0), 0x28) == ds18x20.RANGE  # 126 C
    assert ds18x20.reject_reason(b20(0xFC80), 0x28) == ds18x20.RANGE  # -56 C


def test_ds18s20_extended_resolution():
    # DS18S20 datasheet: T = TEMP_READ - 0.25 + (COUNT_PER_C - COUNT_REMAIN) / COUNT_PER_C.
    # Register 0x0032 = 25.0 C, COUNT_REMAIN 0x0C: 25 - 0.25 + 4/16 = 25.0.
    assert ds18x20.c16(pad(0x32, 0x00, 0x4B, 0x46, 0xFF, 0xFF, 0x0C, 0x10), 0x10) / 16 == 25.0
    # -10.5 C register (0xFFEB), COUNT_REMAIN 5: -11 - 0.25 + 11/16 = -10.5625.
    minus = pad(0xEB, 0xFF, 0x4B, 0x46, 0xFF, 0xFF, 0x05, 0x10)
    assert ds18x20.reject_reason(minus, 0x10) is None
    assert ds18x20.c16(minus, 0x10) / 16 == -10.5625


def test_ds18s20_zero_count_per_c_does_not_divide():
    scratchpad = pad(0x33, 0x00, 0x4B, 0x46, 0xFF, 0xFF, 0x0C, 0x00)
    assert ds18x20.reject_reason(scratchpad, 0x10) is None
    assert ds18x20.c16(scratchpad, 0x10) / 16 == 25.5  # the plain 1/2 C register


def test_ds18s20_power_on_value():
    power_on = pad(0xAA, 0x00, 0x4B, 0x46, 0xFF, 0xFF, 0x0C, 0x10)
    assert ds18x20.reject_reason(power_on, 0x10) == ds18x20.POWER_ON_VALUE


def test_max31850_temperature_and_fault_bits():
    # Thermocouple 400.25 C = 1601 quarter degrees << 2; cold junction 25 C = 400 << 4.
    tc = 1601 << 2
    ok = pad(tc & 0xFF, tc >> 8, 0x00, 0x19, 0xF0, 0xFF, 0xFF, 0xFF)
    assert ds18x20.reject_reason(ok, 0x3B) is None
    assert ds18x20.c16(ok, 0x3B) / 16 == 400.25
    for fault_bits in (1, 2, 4):  # open circuit, short to GND, short to VDD
        bad = pad((tc & 0xFF) | 1, tc >> 8, fault_bits, 0x19, 0xF0, 0xFF, 0xFF, 0xFF)
        assert ds18x20.reject_reason(bad, 0x3B) == ds18x20.FAULT, fault_bits


def test_conversion_times_follow_the_datasheets():
    assert ds18x20.conversion_max_us(0x28, 9) == 93750
    assert ds18x20.conversion_max_us(0x28, 12) == 750000
    assert ds18x20.conversion_max_us(0x22, 10) == 187500
    assert ds18x20.conversion_max_us(0x10, 9) == 750000
    assert ds18x20.conversion_max_us(0x3B) == 100000
    assert ds18x20.config_byte(9) == 0x1F and ds18x20.config_byte(12) == 0x7F
