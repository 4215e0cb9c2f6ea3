"""ROM search (Maxim application note 187, "1-Wire Search Algorithm"), with no device cap.

Each pass resets the bus, sends Search ROM and walks the 64 ROM bits: every device still in
the race drives its bit, then its complement (wired-AND), and the master writes the direction
it takes. 01/10 = all agree; 00 = a discrepancy (take 1 if it is before the last one and was 1
last time, or if it is the last one; else 0); 11 = nobody answered (the pass is void). The
deepest discrepancy where 0 was taken is where the next pass branches. A ROM must pass its CRC
(byte 7 = CRC8 of bytes 0-6) and have a non-zero family: eight zero bytes have CRC 0, and that
is what a bus held low reads.

On a noisy line a pass can go wrong three ways, and each is handled differently:
- it goes void, or its ROM fails the CRC: it is repeated (`_PASS_RETRIES`); a ROM that fails the
  same way every time is a device with a bad ROM, skipped;
- it goes void at the bit right after the branch it was sent down, every time: no device has a
  1 there, the discrepancy was a read slot flipped from 10 to 00 in an earlier pass. The branch
  is empty and is skipped; nothing is missed;
- it keeps going void anywhere else: the branch is given up and the search says it is
  incomplete (`search` returns False), so the caller can search again and check the ROMs it
  expects with `verify` (AN187 "target setup").
"""

from micropython import const

from tempnode.onewire_bus import crc8

_SEARCH_ROM = const(0xF0)
_PASS_RETRIES = const(3)
_GIVEN_UP_MAX = const(8)  # noise branching at every bit: stop rather than walk forever
_VOID = const(-1)


def search(bus, found):
    """Add every ROM on `bus` (a `OneWire`) that is not in `found` (a list of 8-byte `bytes`)
    to it, in search order; True when the search completed, False when a branch was given up."""
    rom = bytearray(8)
    last_discrepancy = 0
    given_up = 0
    skipped = 0
    while True:
        for _ in range(_PASS_RETRIES + 1):
            discrepancy, void_at = _search_pass(bus, rom, last_discrepancy)
            if void_at == 0 and rom[0] != 0 and crc8(rom) == 0:
                rom_bytes = bytes(rom)
                if rom_bytes not in found:
                    found.append(rom_bytes)
                break
        else:
            # An empty branch (void right below it) holds nothing; a ROM that never passes its
            # CRC cannot be used. Anything else was given up to noise.
            if void_at == 0:
                skipped += 1
            elif void_at != last_discrepancy + 1:
                given_up += 1
            if skipped + given_up >= _GIVEN_UP_MAX:
                return False
        if discrepancy <= 0:
            return given_up == 0
        last_discrepancy = discrepancy


def verify(bus, rom):
    """True when the device with ROM `rom` answers a search pass aimed at it (AN187, "target
    setup": the ROM preset and the last discrepancy at bit 64)."""
    target = bytearray(rom)
    for _ in range(_PASS_RETRIES + 1):
        _, void_at = _search_pass(bus, target, 64)
        if void_at == 0 and target == rom:
            return True
        target[:] = rom
    return False


def _search_pass(bus, rom, last_discrepancy):
    """One pass; fills `rom`. Returns (the deepest discrepancy where 0 was taken, 1-based,
    as far as the pass got; the bit at which it went void, or 0 when it reached bit 64)."""
    if not bus.reset():
        return _VOID, 1
    bus.write_byte(_SEARCH_ROM)
    discrepancy = 0
    for bit_number in range(1, 65):
        index = (bit_number - 1) >> 3
        mask = 1 << ((bit_number - 1) & 7)
        bit = bus.read_bit()
        complement = bus.read_bit()
        if bit and complement:
            return discrepancy, bit_number
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
    return discrepancy, 0
