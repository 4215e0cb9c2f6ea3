"""ROM search (Maxim application note 187, "1-Wire Search Algorithm"), with no device cap.

Each pass resets the bus, sends Search ROM and walks the 64 ROM bits: every device still in
the race drives its bit, then its complement (wired-AND), and the master writes the direction
it takes. 01/10 = all agree; 00 = a discrepancy (take 1 if it is before the last one and was 1
last time, or if it is the last one; else 0); 11 = nobody answered (the pass is void). The
deepest discrepancy where 0 was taken is where the next pass branches. A ROM must pass its CRC
(byte 7 = CRC8 of bytes 0-6) and have a non-zero family: eight zero bytes have CRC 0, and that
is what a bus held low reads.
"""

from micropython import const

from tempnode.onewire_bus import crc8

_SEARCH_ROM = const(0xF0)
# A void or corrupted pass is repeated this many times before it is given up; a search that
# gave up on this many ROMs stops (a line held low or noise would branch at every bit).
_PASS_RETRIES = const(3)
_GIVEN_UP_MAX = const(4)


def search(bus):
    """All ROMs on `bus` (a `OneWire`) as a list of 8-byte `bytes`, in search order."""
    found = []
    rom = bytearray(8)
    last_discrepancy = 0
    retries = 0
    given_up = 0
    while True:
        discrepancy = _search_pass(bus, rom, last_discrepancy)
        valid = discrepancy >= 0 and rom[0] != 0 and crc8(rom) == 0
        if not valid:
            if retries < _PASS_RETRIES:
                retries += 1
                continue
            # A ROM that keeps failing its CRC is skipped: the search goes on past its branch.
            given_up += 1
            if given_up >= _GIVEN_UP_MAX:
                return found
        retries = 0
        if valid:
            found.append(bytes(rom))
        if discrepancy <= 0:
            return found
        last_discrepancy = discrepancy


def _search_pass(bus, rom, last_discrepancy):
    """One pass; fills `rom`, returns the new last discrepancy (1-based), or -1 when void."""
    if not bus.reset():
        return -1
    bus.write_byte(_SEARCH_ROM)
    discrepancy = 0
    for bit_number in range(1, 65):
        index = (bit_number - 1) >> 3
        mask = 1 << ((bit_number - 1) & 7)
        bit = bus.read_bit()
        complement = bus.read_bit()
        if bit and complement:
            return -1
        if bit == complement:  # 00: devices disagree here
            if bit_number < last_discrepancy:
                direction = 1 if rom[index] & mask else 0
            else:
                direction = 1 if bit_number == last_discrepancy else 0
            if not direction:
                discrepancy = bit_number
        else:
            direction = bit
        if direction:
            rom[index] |= mask
        else:
            rom[index] &= ~mask
        bus.write_bit(direction)
    return discrepancy
