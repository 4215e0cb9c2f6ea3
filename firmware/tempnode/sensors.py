"""The sensor read cycle: every configured sensor gets a value or a reason, every cycle.

    bank = SensorBank(OneWire(line), clock, config["sensors"], config["sensor_retries"])
    for r in bank.read_cycle():
        r.rom_hex, r.label, r.c   # r.c is degrees C, or None with r.error set

Result representation: `bank.readings` is a list of `Reading` objects, one per sensor, kept for
the bank's life (configured sensors sorted by ROM, then sensors found by a scan in the order
found). A cycle overwrites each one's `c16` (temperature in whole 1/16 C, an int: no float is
allocated) and `error` (None, or one of the reason strings of `tempnode.ds18x20`: `crc`,
`absent`, `power_on_value`, `bus_short`, `range`, `fault`). `Reading.c` converts on demand.
A steady cycle allocates nothing; only a scan that finds a new sensor adds a `Reading`.

One cycle (DS18B20 datasheet, "Operation - measuring temperature"; onewire.md):
1. A ROM search when due: at the first cycle, every `rescan_cycles` cycles, and after a cycle in
   which a sensor stopped answering. New sensors are added (no label, resolution untouched).
   The scan also checks the line is not held low, and sends Read Power Supply (0xB4): a 0 means
   some device is parasite powered (`bank.parasite`).
2. One broadcast Skip ROM + Convert T for all sensors.
3. On external power, poll: read slots return 0 while any device converts, 1 when all are done,
   so the cycle waits only as long as the slowest real device. The poll gives up after 1.2x the
   datasheet maximum; if the reads then succeed, some part "cannot be polled" and later cycles
   wait the datasheet maximum blind (`bank.pollable` False until the next scan). Parasite power
   always waits blind: polling would draw the line low while it is the devices' supply. (There
   is no strong pull-up: MicroPython's `_onewire` has no primitive for it, so the bus pull-up
   must carry the conversion current, as with the ports' own `ds18x20` driver.)
4. Per sensor: Match ROM + Read Scratchpad, validated by `ds18x20.reject_reason`. A rejected
   read is retried up to `retries` times; a power-on value is retried with a fresh conversion
   of that sensor alone (it browned out, re-reading cannot help); a MAX31850 fault is not
   retried (it is the thermocouple, not the transfer).
5. Resolution: a DS18B20/DS1822 whose config byte differs from the configured resolution gets
   Write Scratchpad (its own TH and TL, the new config), a read-back, and only if the device took
   it, Copy Scratchpad to EEPROM: at most once per sensor per boot, so a clone that ignores the
   resolution never wears its EEPROM (~50k cycles; one clone family survives ~8).
"""

from micropython import const

from tempnode import ds18x20
from tempnode.onewire_search import search

_CONVERT_T = const(0x44)
_READ_SCRATCHPAD = const(0xBE)
_WRITE_SCRATCHPAD = const(0x4E)
_COPY_SCRATCHPAD = const(0x48)
_READ_POWER_SUPPLY = const(0xB4)
_POLL_INTERVAL_MS = const(1)
_POLL_SHIFT = const(5)
_COPY_MS = const(10)  # Copy Scratchpad takes up to 10 ms (DS18B20 datasheet, t_WR)
DEFAULT_RETRIES = 2
DEFAULT_RESOLUTION = 12


def _rom_from_hex(rom_hex):
    try:
        rom = bytes.fromhex(rom_hex)
    except ValueError:
        rom = b""
    if len(rom) != 8 or not ds18x20.supported(rom[0]):
        raise ValueError(
            "sensor %s: expected the 16-hex-digit ROM of a DS18B20, DS1822, DS18S20 or MAX31850"
            % rom_hex
        )
    return rom


class Reading:
    """One sensor: identity, wanted resolution and the latest result (rewritten each cycle)."""

    def __init__(self, rom, label=None, resolution=None):
        self.rom = rom
        self.rom_hex = "".join("%02x" % b for b in rom)
        self.label = label
        self.resolution = resolution if ds18x20.has_resolution(rom[0]) else None
        self.device_resolution = None  # as last read from the device's config byte
        self.resolution_tried = False
        self.c16 = None
        self.error = None

    @property
    def family(self):
        return self.rom[0]

    @property
    def c(self):
        """Degrees Celsius, or None when this cycle gave no reading (see `error`)."""
        return None if self.c16 is None else self.c16 / 16

    def conversion_max_us(self):
        return ds18x20.conversion_max_us(self.family, self.device_resolution or 12)


class SensorBank:
    def __init__(self, bus, clock, sensors=None, retries=DEFAULT_RETRIES, rescan_cycles=60):
        """`bus`: a `onewire_bus.OneWire`; `clock`: `tempnode.clock.Clock` (or anything with
        `ticks_ms`, `elapsed_ms` and `sleep_ms`); `sensors`: config.json's `"sensors"` object,
        ROM hex -> `{"label": str, "resolution": 9..12}`; `retries`: config.json's
        `"sensor_retries"`."""
        self.bus = bus
        self.clock = clock
        self.retries = retries
        self.rescan_cycles = rescan_cycles
        self.readings = []
        self.parasite = False
        self.pollable = True
        self.eeprom_writes = 0
        self.cycles = 0
        self._scan_due = True
        self._pad = bytearray(9)
        sensors = sensors or {}
        for rom_hex in sorted(sensors):
            entry = sensors[rom_hex]
            rom = _rom_from_hex(rom_hex)
            resolution = entry.get("resolution", DEFAULT_RESOLUTION)
            self.readings.append(Reading(rom, entry.get("label"), resolution))

    def read_cycle(self):
        """Convert and read every sensor once; returns `self.readings`, each one updated."""
        self.cycles += 1
        if self._scan_due or self.cycles % self.rescan_cycles == 0:
            if not self.scan():
                return self._fail_all(ds18x20.BUS_SHORT)
        if not self.readings:
            return self.readings
        if not self.bus.skip():
            return self._fail_all(ds18x20.ABSENT)
        self.bus.write_byte(_CONVERT_T)
        wait_us = 0
        for r in self.readings:
            wait_us = max(wait_us, r.conversion_max_us())
        timed_out = self._wait_for_conversion(wait_us)
        any_value = False
        for r in self.readings:
            self._read(r)
            any_value = any_value or r.error is None
        if timed_out and any_value:
            self.pollable = False  # a device that never reported done; wait blind from now on
        return self.readings

    def scan(self):
        """Search the bus, add new sensors, detect parasite power; False if the line is low."""
        self._scan_due = True
        bus = self.bus
        bus.reset()
        if not bus.read_bit():
            # Right after a reset nothing drives the line: a 0 means it is held low.
            return False
        for rom in search(bus):
            if ds18x20.supported(rom[0]) and not self._known(rom):
                self.readings.append(Reading(rom))
        if bus.skip():
            bus.write_byte(_READ_POWER_SUPPLY)
            self.parasite = not bus.read_bit()
        self.pollable = True
        self._scan_due = False
        return True

    def _known(self, rom):
        for r in self.readings:
            if r.rom == rom:
                return True
        return False

    def _fail_all(self, reason):
        for r in self.readings:
            r.c16 = None
            r.error = reason
        self._scan_due = True
        return self.readings

    def _wait_for_conversion(self, max_us):
        """Wait until the conversion is done; True if polling gave up (1.2x `max_us`)."""
        max_ms = (max_us + 999) // 1000
        if self.parasite or not self.pollable:
            self.clock.sleep_ms(max_ms)
            return False
        clock = self.clock
        start = clock.ticks_ms()  # not monotonic_ms(): a long integer after 12.4 days on 32-bit
        while not self.bus.read_bit():
            waited = clock.elapsed_ms(start)
            if waited >= max_ms * 6 // 5:
                return True
            # The pause grows with the wait (1/32 of it, at least 1 ms): the wait ends at most
            # ~3 % after the slowest device, in ~120 polls for a 600 ms conversion, not 600.
            clock.sleep_ms(max(_POLL_INTERVAL_MS, waited >> _POLL_SHIFT))
        return False

    def _read(self, r):
        previous = r.error
        pad = self._pad
        reason = None
        for attempt in range(self.retries + 1):
            if attempt and reason == ds18x20.POWER_ON_VALUE:
                self._convert_one(r)
            reason = self._read_scratchpad(r)
            if reason is None or reason == ds18x20.FAULT:
                break
        r.error = reason
        if reason is not None:
            r.c16 = None
            if reason != previous and (reason == ds18x20.ABSENT or reason == ds18x20.BUS_SHORT):
                self._scan_due = True  # replaced, or the bus failed: scan before the next cycle
            return
        r.c16 = ds18x20.c16(pad, r.family)
        if r.resolution is not None:
            self._keep_resolution(r)

    def _read_scratchpad(self, r):
        if not self.bus.select(r.rom):
            return ds18x20.ABSENT
        self.bus.write_byte(_READ_SCRATCHPAD)
        self.bus.read_into(self._pad)
        return ds18x20.reject_reason(self._pad, r.family)

    def _convert_one(self, r):
        if self.bus.select(r.rom):
            self.bus.write_byte(_CONVERT_T)
            self._wait_for_conversion(r.conversion_max_us())

    def _keep_resolution(self, r):
        pad = self._pad
        r.device_resolution = ds18x20.resolution(pad)
        if r.device_resolution == r.resolution or r.resolution_tried:
            return
        r.resolution_tried = True
        bus = self.bus
        config = ds18x20.config_byte(r.resolution)
        th, tl = pad[2], pad[3]
        if not bus.select(r.rom):
            return
        # Write Scratchpad takes TH, TL and config, all three before the next reset.
        bus.write_byte(_WRITE_SCRATCHPAD)
        bus.write_byte(th)
        bus.write_byte(tl)
        bus.write_byte(config)
        if self._read_scratchpad(r) is not None or pad[4] != config:
            return  # the device did not take it: leave its EEPROM alone
        if not bus.select(r.rom):
            return
        bus.write_byte(_COPY_SCRATCHPAD)
        self.clock.sleep_ms(_COPY_MS)
        r.device_resolution = r.resolution
        self.eeprom_writes += 1
