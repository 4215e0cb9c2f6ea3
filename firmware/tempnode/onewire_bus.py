"""The 1-Wire bus seam: a line with five primitives, and the byte-level helpers on top of it.

A *line* is any object with `reset() -> bool` (True when a presence pulse was seen),
`read_bit() -> 0|1`, `write_bit(bit)`, `read_byte() -> int` and `write_byte(byte)`. Three fill
the seam:

- `MicroPythonLine(pin)`: the `_onewire` C module that MicroPython's esp32, esp8266 and rp2
  builds carry (it is what their frozen `onewire.py` wraps). Each primitive is one C call that
  times the slot with interrupts off, so Wi-Fi interrupts cannot stretch a slot between two
  Python statements (espressif/arduino-esp32#755, adafruit/circuitpython#8949).
- `CircuitPythonLine(pin)`: CircuitPython's `onewireio.OneWire`, whose `reset()` returns True
  when *no* device answered, and which has no byte primitives.
- the simulated board's `onewire_sim.SimBus`, directly (CPython) or behind the host board's
  `_onewire` module (MicroPython on the simulated board: `MicroPythonLine` runs unmodified).

`OneWire(line)` adds what every 1-Wire master needs: ROM selection and buffer transfers, all
without allocating. `crc8` is the Dallas/Maxim CRC of application note 27.
"""

from micropython import const

_MATCH_ROM = const(0x55)
_SKIP_ROM = const(0xCC)


def crc8(data):
    """AN27 CRC8 (x^8+x^5+x^4+1, LSB first); a buffer ending in its own CRC checks to 0."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


class MicroPythonLine:
    """The line on a MicroPython port: `_onewire` primitives on an open-drain pin.

    `pin` is a `machine.Pin` opened open-drain with pull-up, as the port's own `onewire.OneWire`
    does (`tempnode.board.make_pin(spec, Pin.OPEN_DRAIN, Pin.PULL_UP)`)."""

    def __init__(self, pin):
        import _onewire

        self._ow = _onewire
        self._pin = pin

    def reset(self):
        return bool(self._ow.reset(self._pin))

    def read_bit(self):
        return self._ow.readbit(self._pin)

    def write_bit(self, bit):
        self._ow.writebit(self._pin, bit)

    def read_byte(self):
        return self._ow.readbyte(self._pin)

    def write_byte(self, byte):
        self._ow.writebyte(self._pin, byte)


class CircuitPythonLine:
    """The line on CircuitPython: `onewireio.OneWire(pin)`, bytes built from bits, LSB first."""

    def __init__(self, pin):
        import onewireio  # type: ignore[import-not-found]  # CircuitPython only

        self._ow = onewireio.OneWire(pin)

    def reset(self):
        # onewireio answers "no presence" (True) or "presence" (False): invert it.
        return not self._ow.reset()

    def read_bit(self):
        return 1 if self._ow.read_bit() else 0

    def write_bit(self, bit):
        self._ow.write_bit(bool(bit))

    def read_byte(self):
        value = 0
        for i in range(8):
            if self._ow.read_bit():
                value |= 1 << i
        return value

    def write_byte(self, byte):
        for i in range(8):
            self._ow.write_bit(bool((byte >> i) & 1))


class OneWire:
    """Bus operations on a line: resets, ROM selection, buffer transfers."""

    def __init__(self, line):
        self.reset = line.reset
        self.read_bit = line.read_bit
        self.write_bit = line.write_bit
        self.read_byte = line.read_byte
        self.write_byte = line.write_byte

    def write(self, data):
        for byte in data:
            self.write_byte(byte)

    def read_into(self, buf):
        for i in range(len(buf)):
            buf[i] = self.read_byte()

    def select(self, rom):
        """Reset, then Match ROM `rom` (8 bytes); False when nothing answered the reset."""
        if not self.reset():
            return False
        self.write_byte(_MATCH_ROM)
        self.write(rom)
        return True

    def skip(self):
        """Reset, then Skip ROM: the next function command goes to every device."""
        if not self.reset():
            return False
        self.write_byte(_SKIP_ROM)
        return True
