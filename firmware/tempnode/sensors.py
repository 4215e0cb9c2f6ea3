"""The sensor read cycle: every configured sensor gets a value or a reason, every cycle.

    bank = SensorBank(OneWire(line), clock, config["sensors"], config["sensor_retries"])
    for r in bank.read_cycle():
        r.rom_hex, r.label, r.c   # r.c is degrees C, or None with r.error set

Result representation: `bank.readings` is a list of `Reading` objects, one per sensor, kept for
the bank's life (configured sensors sorted by ROM, then sensors found by a scan in the order
found). A cycle overwrites each one's `c16` (temperature in whole 1/16 C, an int: no float is
allocated) and `error` (None, or one of `tempnode.ds18x20.REASONS`). `Reading.c` converts on
demand. A steady cycle allocates nothing; only a scan that finds a new sensor adds a `Reading`.

The rule: **a number is reported only when a conversion started in this cycle produced it.**
What proves it (README, "The read cycle"; DS18B20 datasheet, "Operation - measuring
temperature" and "Powering the DS18B20"; onewire.md):
- Externally powered devices answer read slots with 0 while they convert. After the broadcast
  Convert T the bus must read 0 in two slots at once, again 1 ms later and again 2 ms later
  (three separate glitches would be needed to fake it; a conversion takes longer: the fastest
  clone in onewire.md needs 11 ms at 12 bit), then 1 in eight slots in a row (~0.6 ms, longer
  than an interference burst), and on a noisy bus twice more, 1 ms apart. A poll that never
  sees the devices busy means the Convert T did not arrive: it is sent again (`retries`
  times), then the cycle is `unconfirmed`. A poll that gives up (twice the slowest datasheet
  maximum) never yields a value: the cycle is `unconfirmed`, and until the periodic scan the
  bus is waited for blind (some clone family never reports done).
- Parasite-powered devices cannot answer (and a reset during their conversion would brown them
  out): the cycle waits the datasheet maximum at their known resolution, after which a value
  counts only if the scratchpad says the device is at that resolution or lower. That the
  Convert T arrived is proven by an externally powered device seen busy on the same wire; on a
  bus where no device can answer, only a scratchpad that changed since it was read after the
  previous Convert T proves a new conversion, and an unchanged one is `unconfirmed`.
- A DS18x20 power-on scratchpad after a proven broadcast means that device browned out, and a
  device back from `absent` or `stuck` may have missed the broadcast: each is converted again on
  its own. A DS18S20 at exactly 85.0 C has the power-on bytes; it is reported
  only after a conversion of its own seen busy, with TH changed beforehand and still changed
  afterwards (a brownout would have reloaded TH from EEPROM).
The power mode is read every cycle (Skip ROM + Read Power Supply, four slots that must agree);
with a stuck device on the bus (it answers 0 to that too) each other device is asked alone.
A bus that showed any error in the last `_NOISY_CYCLES` cycles is "noisy": there "done" is
checked three times. Where more than 6 % of scratchpad reads fail their CRC (about 9e-4 flips
per read slot), every scratchpad is read twice and must match: the CRC8 catches every error of
up to 3 bits and any burst of up to 8, but passes 1 in 128 of the heavier ones.

One cycle:
1. A ROM search when due: at the first cycle, every `rescan_cycles` cycles, and after a cycle in
   which a sensor stopped answering. It first checks the line is not held low (three idle
   slots, twice); on a noisy line (a pass had to be repeated) the search is run again until
   one adds nothing (three at most), and every known sensor not found is looked for by its
   ROM (`onewire_search.verify`). Those still missing read `absent` in this cycle, and the
   console says `sensors: found N of M configured sensors` when that changes.
   New sensors are added (no label, resolution untouched). A bus found unpollable is polled
   again at the periodic scan.
2. Power mode, then (on a bus that must be waited for blind, at the first cycle) each sensor's
   scratchpad: its config byte sizes the wait, and it is what a conversion must change.
3. One broadcast Skip ROM + Convert T, and the wait above.
4. Per sensor: Match ROM + Read Scratchpad, validated by `ds18x20.reject_reason`, and the proof
   above. A rejected read is retried up to `retries` times; a power-on value is retried with a
   fresh conversion of that sensor alone; a MAX31850 fault is not retried (it is the
   thermocouple, not the transfer). All zeros with a healthy line is `stuck`, with the line
   held low `bus_short`.
5. Resolution: a DS18B20/DS1822 whose config byte differs from the configured resolution gets
   Write Scratchpad (its own TH and TL, the new config), a read-back, and only if the device took
   it, Copy Scratchpad to EEPROM: once per sensor per boot (a clone that ignores the resolution
   gets three Write Scratchpad tries, RAM only), so its EEPROM (~50k cycles; one clone family
   survives ~8) is never worn. A failed read-back leaves the resolution unknown, not the old one.
(There is no strong pull-up: MicroPython's `_onewire` has no primitive for it, so the bus
pull-up must carry the conversion current, as with the ports' own `ds18x20` driver.)
"""

from micropython import const

from tempnode import ds18x20
from tempnode.onewire_search import search, verify
from tempnode.redact import log

_CONVERT_T = const(0x44)
_READ_SCRATCHPAD = const(0xBE)
_WRITE_SCRATCHPAD = const(0x4E)
_COPY_SCRATCHPAD = const(0x48)
_RECALL_E2 = const(0xB8)
_READ_POWER_SUPPLY = const(0xB4)
_POLL_SHIFT = const(6)  # a poll pauses 1/64 of the wait so far (at least 1 ms)
_BUSY_CHECKS = const(3)  # busy: two slots at 0, three times, 1 ms apart
_BUSY_AGAIN_MS = const(1)
_DONE_SLOTS = const(7)  # after the first 1: 7 more, 8 slots = 0.56 ms
_DONE_CHECKS = const(3)  # on a noisy bus
_POWER_SLOTS = const(4)
_POWER_TRIES = const(3)
_IDLE_SLOTS = const(3)
_SEARCH_TRIES = const(3)
_NOISY_CYCLES = const(10)
# Read every scratchpad twice above this share of CRC failures (1/256): 6 %, about 9e-4 flips
# per read slot, where 4 flips in one read (1 in 128 of them pass the CRC) stop being rare.
_READ_TWICE_SHARE = const(16)
_RESOLUTION_TRIES = const(3)
_COPY_MS = const(10)  # Copy Scratchpad takes up to 10 ms (DS18B20 datasheet, t_WR)

# What the wait for a conversion proved.
_PROVEN = const(0)  # seen busy, then done (parasite devices: the datasheet maximum)
_DATASHEET = const(4)  # seen busy, then the datasheet maximum (a bus that cannot be polled)
_UNSEEN = const(1)  # no device could show it: only a changed scratchpad proves a conversion
_LOST = const(2)  # nothing converted: the Convert T did not arrive
_TIMEOUT = const(3)  # still busy at the limit

# Reading.flags
_CONFIGURED = const(1)  # listed in config.json
_SEEN = const(2)  # answered at least once (a ROM misread by a noisy search never does)
_MISSING = const(4)  # not found by the last scan
_STUCK = const(8)  # answered all zeros on a healthy line
_FRESH = const(16)  # `fingerprint` was read after the last Convert T sent to it

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


def _unconfirmed_unless(reason):
    """The reason of a scratchpad read after an unproven conversion: its own when it has one
    (absent, stuck, power-on value...), else `unconfirmed` (range: maybe just not converted)."""
    return ds18x20.UNCONFIRMED if reason is None or reason == ds18x20.RANGE else reason


def _converting(r):
    """A Convert T went out to `r`: its fingerprint is now the scratchpad before it, provided it
    was read after the one before; else no "before" is known."""
    if r.has(_FRESH):
        r.mark(_FRESH, False)
    else:
        r.fingerprint = None


def _fingerprint(pad):
    """What a new conversion changes (temperature bytes) and the CRC of everything else."""
    return pad[0] | (pad[1] << 8) | (pad[8] << 16)


class Reading:
    """One sensor: identity, wanted resolution and the latest result (rewritten each cycle)."""

    def __init__(self, rom, label=None, resolution=None, configured=False):
        self.rom = rom
        self.rom_hex = "".join("%02x" % b for b in rom)
        self.label = label
        self.flags = _CONFIGURED if configured else 0
        self.resolution = resolution if ds18x20.has_resolution(rom[0]) else None
        self.device_resolution = None  # as last read from the device's config byte
        self.resolution_tries = 0
        self.fingerprint = None  # of the last scratchpad that passed its CRC
        self.c16 = None
        self.error = None

    def has(self, flag):
        return self.flags & flag

    def mark(self, flag, on=True):
        self.flags = (self.flags | flag) if on else (self.flags & ~flag)

    @property
    def family(self):
        return self.rom[0]

    @property
    def c(self):
        """Degrees Celsius, or None when this cycle gave no reading (see `error`)."""
        return None if self.c16 is None else self.c16 / 16

    def conversion_max_us(self, bits=None):
        return ds18x20.conversion_max_us(self.family, bits or self.device_resolution or 12)


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
        self.scan_complete = True
        self._scan_due = True
        self._scan_said = None
        self._noisy_until = 0
        self._crc_share = 0  # of scratchpad reads failing their CRC, in 1/256, smoothed
        self._outcome = _PROVEN
        self._blind_us = 0  # the datasheet time the last wait relied on (0: it was polled)
        self._changed = False  # the last scratchpad read differs from the one before
        self._pad = bytearray(9)
        self._pad2 = bytearray(9)
        sensors = sensors or {}
        for rom_hex in sorted(sensors):
            entry = sensors[rom_hex]
            rom = _rom_from_hex(rom_hex)
            resolution = entry.get("resolution", DEFAULT_RESOLUTION)
            self.readings.append(Reading(rom, entry.get("label"), resolution, True))

    def read_cycle(self):
        """Convert and read every sensor once; returns `self.readings`, each one updated."""
        self.cycles += 1
        periodic = self.cycles % self.rescan_cycles == 0
        if self._scan_due or periodic:
            if periodic:
                self.pollable = True  # polling is tried again once in a while
            if not self.scan():
                return self._fail_all(ds18x20.BUS_SHORT)
        if not self.readings:
            return self.readings
        if not self._check_power():
            return self._fail_all(ds18x20.ABSENT)
        if self.parasite or not self.pollable:
            self._read_before()
        outcome = self._convert(None)
        for _ in range(self.retries):
            if outcome != _LOST:
                break
            outcome = self._convert(None)
        if outcome == _TIMEOUT:
            if self._line_low():
                return self._fail_all(ds18x20.BUS_SHORT)  # the poll read the short, not a device
            self.pollable = False  # a device that never reports done: wait blind from now on
        for r in self.readings:
            if r.has(_MISSING):  # in the scan's cycle; read again from the next one on
                r.mark(_MISSING, False)
                r.c16 = None
                r.error = ds18x20.ABSENT
            elif outcome == _LOST or outcome == _TIMEOUT:
                self._read_unconfirmed(r)
            else:
                self._read(r)
        return self.readings

    def scan(self):
        """Search the bus and add new sensors; False if the line is held low."""
        self._scan_due = True
        if self._line_low():
            return False
        bus = self.bus
        found = []
        complete = False
        for attempt in range(_SEARCH_TRIES):
            known = len(found)
            complete, repeated = search(bus, found)
            if repeated or not complete:
                self._noisy()  # noise can also hide a branch without a trace: search again
            if complete and (not repeated or (attempt and len(found) == known)):
                break
        self.readings = [r for r in self.readings if r.has(_CONFIGURED | _SEEN)]
        for r in self.readings:
            r.mark(_MISSING, r.rom not in found and not verify(bus, r.rom))
        for rom in found:
            if ds18x20.supported(rom[0]) and not self._known(rom):
                self.readings.append(Reading(rom))
        self.scan_complete = complete
        self._scan_due = False
        self._say_what_was_found()
        return True

    # The cycle's steps.

    def _line_low(self):
        """True when the line reads 0 in every idle slot after two resets (held low)."""
        bus = self.bus
        for _ in range(2):
            bus.reset()
            for _ in range(_IDLE_SLOTS):
                if bus.read_bit():
                    return False
        return True

    def _say_what_was_found(self):
        configured = found = 0
        missing = []
        for r in self.readings:
            configured += r.has(_CONFIGURED) != 0
            found += r.has(_CONFIGURED | _MISSING) == _CONFIGURED
            if r.has(_MISSING):
                missing.append(r.rom_hex)
        line = "sensors: found %d of %d configured sensors, %d not configured" % (
            found,
            configured,
            len(self.readings) - configured,
        )
        if missing:
            line += "; not found (reported as absent): " + ", ".join(missing)
        if line != self._scan_said:
            self._scan_said = line
            log(line)

    def _check_power(self):
        """Read Power Supply: sets `self.parasite`; False when no device answers the reset."""
        stuck = False
        for r in self.readings:
            stuck = stuck or r.has(_STUCK)
        if stuck:
            return self._check_power_each()
        bus = self.bus
        for _ in range(_POWER_TRIES):
            if not bus.skip():
                return False
            answer = self._power_answer()
            if answer >= 0:
                self.parasite = answer == 0
                return True
        self.parasite = True  # no clear answer: the side that never polls a parasite device
        return True

    def _check_power_each(self):
        """Each device alone, but the stuck ones (their 0 would say parasite for the bus)."""
        parasite = False
        answered = False
        for r in self.readings:
            if r.has(_STUCK | _MISSING) or not self.bus.select(r.rom):
                continue
            answered = True
            parasite = parasite or self._power_answer() != 1
        self.parasite = parasite
        return answered

    def _power_answer(self):
        """After a reset and ROM command: 1 external, 0 parasite, -1 the slots disagree."""
        bus = self.bus
        bus.write_byte(_READ_POWER_SUPPLY)
        ones = 0
        for _ in range(_POWER_SLOTS):
            ones += bus.read_bit()
        if ones == _POWER_SLOTS:
            return 1
        if ones == 0:
            return 0
        self._noisy()
        return -1

    def _read_before(self):
        """On a bus waited for blind: the scratchpad of each sensor whose resolution (it sizes
        the wait) is not known, or, on parasite power, whose scratchpad before this conversion
        is not known (what the conversion must change)."""
        for r in self.readings:
            if r.has(_MISSING):
                continue
            unknown = r.device_resolution is None and ds18x20.has_resolution(r.family)
            if unknown or (self.parasite and r.fingerprint is None):
                self._read_scratchpad(r)

    def _convert(self, one):
        """Convert T to every device (`one` None) or to reading `one`, and wait as the module
        docstring says; returns what the wait proved and sets `_outcome` and `_blind_us`."""
        bus = self.bus
        clock = self.clock
        if not (bus.skip() if one is None else bus.select(one.rom)):
            return self._outcome_is(_LOST, 0)
        bus.write_byte(_CONVERT_T)
        start = clock.ticks_ms()  # not monotonic_ms(): a long integer after 12.4 days on 32-bit
        if one is None:
            for r in self.readings:
                _converting(r)
        else:
            _converting(one)
        busy = True
        for check in range(_BUSY_CHECKS):
            if check:
                clock.sleep_ms(_BUSY_AGAIN_MS)
            if bus.read_bit() or bus.read_bit():
                busy = False
                break
        blind_us = self._longest_us(one, False) if self.parasite or not self.pollable else 0
        blind_ms = (blind_us + 999) // 1000
        if not busy and not self.parasite:
            self._noisy()
            return self._outcome_is(_LOST, 0)
        limit_ms = self._longest_us(one, True) // 500  # twice the slowest datasheet maximum
        while True:
            waited = clock.elapsed_ms(start)
            if waited < blind_ms:
                clock.sleep_ms(blind_ms - waited)
                continue
            if not busy:
                return self._outcome_is(_UNSEEN, blind_us)
            if not self.pollable:
                return self._outcome_is(_DATASHEET, blind_us)
            if waited >= limit_ms:
                return self._outcome_is(_TIMEOUT, 0)
            if bus.read_bit() and self._done_confirmed():
                return self._outcome_is(_PROVEN, blind_us)
            clock.sleep_ms(max(1, waited >> _POLL_SHIFT))

    def _outcome_is(self, outcome, blind_us):
        self._outcome = outcome
        self._blind_us = blind_us
        return outcome

    def _done_confirmed(self):
        """After a 1 in the poll: 7 more now; on a noisy bus, 8 more 1 ms later, twice (two
        bursts back to back can fake 8 slots, three separate pairs cannot)."""
        bus = self.bus
        slots = _DONE_SLOTS
        for check in range(_DONE_CHECKS if self._noisy_until > self.cycles else 1):
            if check:
                self.clock.sleep_ms(_BUSY_AGAIN_MS)
                slots = _DONE_SLOTS + 1
            for _ in range(slots):
                if not bus.read_bit():
                    self._noisy()
                    return False
        return True

    def _longest_us(self, one, at_12_bits):
        """The slowest datasheet maximum of `one` or of every sensor (at the known resolution,
        12 bit where unknown; or at 12 bit for all)."""
        bits = 12 if at_12_bits else None
        if one is not None:
            return one.conversion_max_us(bits)
        longest = 0
        for r in self.readings:
            longest = max(longest, r.conversion_max_us(bits))
        return longest

    def _read(self, r):
        previous = r.error
        reason = None
        for attempt in range(self.retries + 1):
            if attempt and reason == ds18x20.POWER_ON_VALUE:
                reason = self._reconvert(r, True)
            else:
                reason = self._read_scratchpad(r)
                if reason is None and (previous == ds18x20.ABSENT or previous == ds18x20.STUCK):
                    # Back on the bus or back to life: it may have missed the broadcast.
                    reason = self._reconvert(r, False)
                elif reason is None:
                    reason = self._unproven(r)
                elif reason == ds18x20.POWER_ON_VALUE and ds18x20.power_on_ambiguous(r.family):
                    reason = self._reconvert(r, True)
            if reason is None or reason == ds18x20.FAULT or reason == ds18x20.UNCONFIRMED:
                break
        r.error = reason
        r.mark(_STUCK, reason == ds18x20.STUCK)
        if reason is not None:
            r.c16 = None
            if reason != previous and (reason == ds18x20.ABSENT or reason == ds18x20.BUS_SHORT):
                self._scan_due = True  # replaced, or the bus failed: scan before the next cycle
            return
        r.c16 = ds18x20.c16(self._pad, r.family)
        if self._outcome == _DATASHEET:
            r.fingerprint = None  # a device slower than the datasheet may still change it
        if ds18x20.has_resolution(r.family):
            self._keep_resolution(r)

    def _read_unconfirmed(self, r):
        """No conversion was proven: the reading gets a reason, never a number."""
        reason = self._read_scratchpad(r)
        r.mark(_STUCK, reason == ds18x20.STUCK)
        r.c16 = None
        r.error = _unconfirmed_unless(reason)
        # A conversion may still be running and change the scratchpad after this read: it is
        # no "before" that a later change could be measured against.
        r.fingerprint = None

    def _unproven(self, r):
        """Why this cycle's wait does not prove the scratchpad just read, or None."""
        pad = self._pad
        if self._outcome == _UNSEEN and not self._changed:
            return ds18x20.UNCONFIRMED
        if self._blind_us and ds18x20.has_resolution(r.family):
            if ds18x20.conversion_max_us(r.family, ds18x20.resolution(pad)) > self._blind_us:
                return ds18x20.UNCONFIRMED  # the wait was too short for it
        return None

    def _reconvert(self, r, power_on_bytes):
        """A scratchpad the broadcast does not vouch for (`power_on_bytes`: it shows the power-on
        value): convert `r` alone and read it. The cycle's own proof is kept for the others."""
        outcome, blind_us = self._outcome, self._blind_us
        try:
            if power_on_bytes and ds18x20.power_on_ambiguous(r.family):
                return self._confirm_power_on_bytes(r)
            own = self._convert(r)
            reason = self._read_scratchpad(r)
            if own == _LOST or own == _TIMEOUT:
                return _unconfirmed_unless(reason)
            return self._unproven(r) if reason is None else reason
        finally:
            self._outcome, self._blind_us = outcome, blind_us

    def _confirm_power_on_bytes(self, r):
        """A DS18S20 showing the power-on bytes: a real 85.0 C, or a brownout? Mark TH, convert
        it alone, seen busy, and read it: TH still marked means it kept its power throughout."""
        bus = self.bus
        pad = self._pad
        mark = pad[2] ^ 1
        if not bus.select(r.rom):
            return ds18x20.ABSENT
        bus.write_byte(_WRITE_SCRATCHPAD)  # DS18S20: TH and TL only
        bus.write_byte(mark)
        bus.write_byte(pad[3])
        proven = self._convert(r) == _PROVEN
        reason = self._read_scratchpad(r)
        if reason == ds18x20.POWER_ON_VALUE and pad[2] == mark:
            reason = None  # bytes of 85.0 C from a conversion it lived through
        if bus.select(r.rom):
            bus.write_byte(_RECALL_E2)  # TH and TL back from its EEPROM
        if reason is None and not proven:
            return ds18x20.POWER_ON_VALUE
        return reason

    def _read_scratchpad(self, r):
        """Read `r`'s scratchpad into `_pad`; the reason it is not a temperature, or None."""
        reason = self._transfer(r, self._pad)
        if reason is None and self._crc_share > _READ_TWICE_SHARE:
            again = self._transfer(r, self._pad2)
            if again is not None or self._pad2 != self._pad:
                reason = ds18x20.CRC
        if reason is None or reason == ds18x20.POWER_ON_VALUE or reason == ds18x20.RANGE:
            fingerprint = _fingerprint(self._pad)
            self._changed = r.fingerprint is not None and fingerprint != r.fingerprint
            r.fingerprint = fingerprint
            r.mark(_SEEN | _FRESH)
            if ds18x20.has_resolution(r.family):
                r.device_resolution = ds18x20.resolution(self._pad)
        return reason

    def _transfer(self, r, pad):
        bus = self.bus
        if not bus.select(r.rom):
            return ds18x20.ABSENT
        bus.write_byte(_READ_SCRATCHPAD)
        bus.read_into(pad)
        reason = ds18x20.reject_reason(pad, r.family)
        failed = 256 if reason == ds18x20.CRC else 0
        self._crc_share += (failed - self._crc_share) >> 4
        if reason == ds18x20.BUS_SHORT:
            r.mark(_SEEN)
            return ds18x20.BUS_SHORT if self._line_low() else ds18x20.STUCK
        if reason == ds18x20.CRC:
            self._noisy()
        return reason

    def _noisy(self):
        self._noisy_until = self.cycles + _NOISY_CYCLES

    def _known(self, rom):
        for r in self.readings:
            if r.rom == rom:
                return True
        return False

    def _fail_all(self, reason):
        for r in self.readings:
            r.c16 = None
            r.error = reason
        if reason != ds18x20.UNCONFIRMED:
            self._scan_due = True
        return self.readings

    def _keep_resolution(self, r):
        pad = self._pad
        if r.resolution is None or r.device_resolution == r.resolution:
            return
        if r.resolution_tries >= _RESOLUTION_TRIES:
            return
        r.resolution_tries += 1
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
        r.device_resolution = None  # unknown until read back: the next wait assumes 12 bit
        if self._transfer(r, pad) is not None:
            return
        r.device_resolution = ds18x20.resolution(pad)
        if pad[4] != config:
            return  # the device did not take it: leave its EEPROM alone
        if not bus.select(r.rom):
            return
        bus.write_byte(_COPY_SCRATCHPAD)
        self.clock.sleep_ms(_COPY_MS)
        r.resolution_tries = _RESOLUTION_TRIES
        self.eeprom_writes += 1
