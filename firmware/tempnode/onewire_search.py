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
- it keeps going void anywhere else: the branch is given up, the search goes on at the next
  fork of the last good pass and says it is incomplete, so the caller can search again and
  check the ROMs it expects with `verify` (AN187 "target setup").
A flip can also hide a discrepancy (00 read as 01 or 10): that branch is missed with no trace
in the pass. Such a line shows other flips too (`repeated` passes), and the caller searches
again: a second search misses a different branch, if any.
"""

from micropython import const

from tempnode.onewire_bus import crc8

_SEARCH_ROM = const(0xF0)
_PASS_RETRIES = const(5)  # at 3e-3 flips per read slot a pass fails 1 time in 3
_GIVEN_UP_MAX = const(8)  # noise branching at every bit: stop rather than walk forever
_NO_PRESENCE = const(-1)


def search(bus, found):
    """Add every ROM on `bus` (a `OneWire`) that is not in `found` (a list of 8-byte `bytes`)
    to it, in search order. Returns (complete, repeated): False when a branch was given up, and
    how many passes had to be repeated (0 on a clean line)."""
    rom = bytearray(8)
    forks = bytearray(8)  # the discrepancies where the last good pass took 0: still to branch
    pass_forks = bytearray(8)
    last_discrepancy = 0
    given_up = skipped = repeated = 0
    while True:
        discrepancy = void_at = 0
        for attempt in range(_PASS_RETRIES + 1):
            repeated += attempt > 0
            discrepancy, void_at = _search_pass(bus, rom, last_discrepancy, pass_forks)
            if void_at < 0:
                return given_up == 0, repeated  # no presence pulse: nobody (left) on the bus
            if void_at == 0 and rom[0] != 0 and crc8(rom) == 0:
                rom_bytes = bytes(rom)
                if rom_bytes not in found:
                    found.append(rom_bytes)
                forks[:] = pass_forks
                break
        else:
            # An empty branch (void right below it) holds nothing; a ROM that never passes its
            # CRC cannot be used; anything else was given up to noise. The search goes on at
            # the next fork of the last good pass.
            if void_at == 0:
                skipped += 1
                forks[:] = pass_forks  # it did walk all 64 bits: go on from its forks
            else:
                if void_at != last_discrepancy + 1:
                    given_up += 1
                if last_discrepancy:
                    _clear(forks, last_discrepancy)
                discrepancy = _deepest(forks)
            if skipped + given_up >= _GIVEN_UP_MAX:
                return False, repeated
        if discrepancy <= 0:
            return given_up == 0, repeated
        last_discrepancy = discrepancy


def _clear(bits, bit_number):
    bits[(bit_number - 1) >> 3] &= ~(1 << ((bit_number - 1) & 7))


def _deepest(bits):
    """The highest bit number (1-based) set in `bits`, 0 when none is."""
    for bit_number in range(64, 0, -1):
        if bits[(bit_number - 1) >> 3] & (1 << ((bit_number - 1) & 7)):
            return bit_number
    return 0


def verify(bus, rom):
    """True when the device with ROM `rom` answers a search pass aimed at it (AN187, "target
    setup": the ROM preset and the last discrepancy at bit 64)."""
    target = bytearray(rom)
    forks = bytearray(8)
    for _ in range(_PASS_RETRIES + 1):
        _, void_at = _search_pass(bus, target, 64, forks)
        if void_at == 0 and target == rom:
            return True
        target[:] = rom
    return False


def _search_pass(bus, rom, last_discrepancy, forks):
    """One pass; fills `rom`, and `forks` with the discrepancies where it took 0. Returns
    (the deepest of those, 1-based, as far as the pass got; the bit at which it went void, 0
    when it reached bit 64, or -1 when no device answered the reset)."""
    forks[:] = b"\x00\x00\x00\x00\x00\x00\x00\x00"
    if not bus.reset():
        return 0, _NO_PRESENCE
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
                forks[index] |= mask
        else:
            direction = bit
        if direction:
            rom[index] |= mask
        else:
            rom[index] &= ~mask
        bus.write_bit(direction)
    return discrepancy, 0
