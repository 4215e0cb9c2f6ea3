"""Store-and-forward spool: every reading stays on flash until the cloud confirms it.

    spool = Spool("spool", config["spool_capacity"], clock)
    spool.append(bank.read_cycle(), clock.monotonic_ms())   # one sample cycle
    batch = spool.peek_batch(32)          # oldest first, in the README's wire form
    spool.confirm(uploader.post(session, batch, spool.dropped(), deadline_ms))

On flash (one directory):
- Segment files named by the seq of their first record, holding binary records appended one
  sample cycle at a time (`_RECORD` + the label). A new segment starts when the current one
  would pass `segment_bytes`; a segment is removed once every seq in it is confirmed or dropped.
- `head.json`, rewritten atomically (`tempnode.atomic`) only when the floor moves, seqs are
  confirmed, readings are dropped, or a boot first needs its number: `next` (a lower bound of the
  next seq), `floor` (every seq below it is confirmed or dropped), `acked` (confirmed seqs above
  the floor as `[first, last]` ranges: the cloud may confirm a subset, not contiguous),
  `dropped` (running count of readings discarded, reported to the cloud), `boot` and `anchors`.

Power safety rests on littlefs: a file's new contents are committed at close, all or nothing,
and `os.rename` is atomic (littlefs DESIGN.md). So an append is all-or-nothing and a record once
committed is never rewritten: no reading can appear under two seqs. The next seq is the larger of
`head.next` and the newest segment's last seq + 1; the newest segment is only ever removed after
a head write that recorded `next`, so a seq is never reused. Removing an older segment before the
head says so is harmless: records missing below the first segment count as dropped.

Time stamps. A reading taken while the wall time is known carries `t`. Before that it carries
its boot's monotonic `mono_ms` and the spool's boot number (persisted, counted only in boots that
spool such a reading). When the wall time becomes known in that boot, the boot gets an anchor
(`clock.to_wall(0)`, Unix seconds at monotonic 0, kept in the head), and its readings go out with
`t = anchor + mono_ms // 1000` (within a second of the exact value, the same each time they are
sent). Readings of the current boot not yet anchored go out with `mono_ms` alone, which the cloud
converts with the batch's `sent_mono_ms`. Readings of an earlier boot that never learned the time
go out with `mono_ms` and `boot`: the cloud must not convert those with `sent_mono_ms` (another
boot's clock) and stores them with an unknown time, in seq order.

Capacity: after an append, the oldest unconfirmed readings beyond `capacity` are dropped and
counted. A full filesystem (ENOSPC) drops the oldest segment to make room and retries; when
nothing is left to drop, `append` raises OSError(ENOSPC) and the spool is unchanged.
"""

import os
import struct
from binascii import hexlify

from micropython import const

from tempnode import atomic, ds18x20

_HEAD = "head.json"
# flags, seq, sensor ROM, time (t in Unix s, or mono_ms), value (1/16 C, or reason code),
# boot, label length; the label's UTF-8 bytes follow.
_RECORD = "<BI8sqiHB"
_RECORD_SIZE = const(28)
_SEQ_AT = const(1)
_LABEL_LENGTH_AT = const(27)
_HAS_T = const(1)
_HAS_ERROR = const(2)
# Segments of up to one 4 KiB flash block (littlefs puts a file's first block_size bytes in one
# block). littlefs copies a file's partly filled last block on every append, so a bigger segment
# costs more block writes per reading while readings pile up, a smaller one more room (a file
# takes at least a block); erases per reading are the same. bench/spool_wear.py measures it.
SEGMENT_BYTES = const(4096)
_MAX_ANCHORS = const(16)
_NAMES_KEPT = const(32)
_ENOSPC = const(28)  # littlefs's LFS_ERR_NOSPC as MicroPython raises it (py/mperrno.h)
_EEXIST = const(17)
# Reason codes on flash: the index is the stored code, so this order never changes.
_REASONS = (
    ds18x20.CRC,
    ds18x20.ABSENT,
    ds18x20.POWER_ON_VALUE,
    ds18x20.BUS_SHORT,
    ds18x20.RANGE,
    ds18x20.FAULT,
    ds18x20.STUCK,
    ds18x20.UNCONFIRMED,
)


class Spool:
    def __init__(self, directory, capacity, clock, segment_bytes=SEGMENT_BYTES):
        self.directory = directory
        self.capacity = capacity
        self._segment_limit = segment_bytes
        self._clock = clock
        self._record = bytearray(_RECORD_SIZE)
        self._names = {}  # ROM + label bytes as stored -> (sensor hex, label)
        self._last_stamp = None
        self._have_directory = self._make_directory()
        head = atomic.read_json(self._path(_HEAD)) or {}
        self._next = head.get("next", 0)
        self._floor = head.get("floor", 0)
        self._acked = head.get("acked", [])
        self._dropped = head.get("dropped", 0)
        self._saved_boot = head.get("boot", 0)
        self._anchors = head.get("anchors", [])
        self._boot = self._saved_boot + 1
        self._anchor = None
        names = os.listdir(directory) if self._have_directory else ()
        self._segments = sorted(int(name) for name in names if name.isdigit())
        self._newest_size = 0
        self._scan_newest()
        self._forget_below(self._segments[0] if self._segments else self._next)
        self._remove_spent_segments()

    # -- what the logger calls

    def append(self, readings, mono_ms):
        """Spool one sample cycle (objects with `rom`, `label`, `c16`, `error`, as
        `tempnode.sensors` gives them), taken at monotonic `mono_ms`; return the first seq.
        When this returns, the readings are on flash."""
        if not self._have_directory:
            self._have_directory = self._make_directory()
            if not self._have_directory:
                raise OSError(_ENOSPC)  # the flash filled up before this board ever spooled
        self._anchor_this_boot()
        t = self._clock.to_wall(mono_ms)
        fields = [_fields(r) for r in readings]  # bad input raises here, before any write
        if not fields:
            return self._next
        if t is None and self._saved_boot != self._boot:
            # Durable before any record names it: two boots must never share a number.
            self._saved_boot = self._boot
            self._save_head_making_room()
        first = self._next
        self._write_records(fields, mono_ms if t is None else t, t is not None)
        excess = self.depth() - self.capacity
        if excess > 0:
            try:
                self._drop(excess)
            except OSError:
                # The readings are stored: raising now would get them appended twice. The drop
                # stands in memory and reaches flash with the next head write.
                pass
        return first

    def peek_batch(self, max_n):
        """Up to `max_n` unconfirmed readings, oldest first, as wire-form dicts."""
        self._anchor_this_boot()
        batch = []
        acked = self._acked
        k = 0  # acked[k] is the first confirmed range not below the record being read
        for i, start in enumerate(self._segments):
            end = self._segments[i + 1] if i + 1 < len(self._segments) else self._next
            if end <= self._floor:
                continue
            with open(self._path(str(start)), "rb") as f:
                while len(batch) < max_n and self._read_header(f):
                    seq = struct.unpack_from("<I", self._record, _SEQ_AT)[0]
                    while k < len(acked) and acked[k][1] < seq:
                        k += 1
                    if seq >= self._floor and (k == len(acked) or seq < acked[k][0]):
                        batch.append(self._wire(f.read(self._record[_LABEL_LENGTH_AT])))
                    else:
                        f.seek(self._record[_LABEL_LENGTH_AT], 1)
            if len(batch) >= max_n:
                break
        return batch

    def confirm(self, seqs):
        """Forget the readings the cloud stored (any subset of what was sent, in any order)."""
        changed = False
        for seq in seqs:
            if self._floor <= seq < self._next and self._add_ack(seq):
                changed = True
        if changed:
            self._forget_below(self._floor)
            self._save_head()
            self._remove_spent_segments()

    def depth(self):
        """Readings not yet confirmed."""
        confirmed = 0
        for first, last in self._acked:
            confirmed += last - first + 1
        return self._next - self._floor - confirmed

    def taken(self):
        """Readings ever appended (seqs count from 0, so this is also the next seq)."""
        return self._next

    def dropped(self):
        """Readings discarded since the spool was created (spool full, filesystem full)."""
        return self._dropped

    # -- records

    def _write_records(self, fields, time, has_t):
        size = 0
        for field in fields:
            size += _RECORD_SIZE + len(field[1])
        while True:
            full = self._newest_size and self._newest_size + size > self._segment_limit
            if full or not self._segments:
                self._segments.append(self._next)
                self._newest_size = 0
            seq = self._next
            try:
                with open(self._path(str(self._segments[-1])), "ab") as f:
                    for rom, label, value, flags in fields:
                        struct.pack_into(
                            _RECORD,
                            self._record,
                            0,
                            flags | (_HAS_T if has_t else 0),
                            seq,
                            rom,
                            time,
                            value,
                            self._boot,
                            len(label),
                        )
                        f.write(self._record)
                        f.write(label)
                        seq += 1
            except OSError as e:
                # What is on flash is the truth: the append is all there or not at all.
                self._scan_newest()
                if e.errno != _ENOSPC or not self._make_room():
                    raise
                continue
            self._next = seq
            self._newest_size += size
            return

    def _read_header(self, f):
        """Read the next record's fixed part into `_record`; False at the end."""
        return f.readinto(self._record) == _RECORD_SIZE

    def _wire(self, label):
        """The record in `_record`, with its `label` bytes, in wire form."""
        flags, seq, rom, time, value, boot, _ = struct.unpack(_RECORD, self._record)
        key = rom + label
        names = self._names.get(key)
        if names is None:  # a sensor's strings are made once, not per reading
            if len(self._names) >= _NAMES_KEPT:
                self._names.clear()
            names = self._names[key] = (hexlify(rom).decode(), label.decode())
        reading = {"seq": seq, "sensor": names[0], "label": names[1]}
        if flags & _HAS_T:
            reading["t"] = self._shared_stamp(time)
        else:
            anchor = self._anchor if boot == self._boot else self._saved_anchor(boot)
            if anchor is not None:
                reading["t"] = self._shared_stamp(anchor + time // 1000)
            else:
                reading["mono_ms"] = self._shared_stamp(time)
                if boot != self._boot:
                    reading["boot"] = boot
        if flags & _HAS_ERROR:
            reading["error"] = _REASONS[value]
        else:
            reading["c"] = value / 16
        return reading

    def _shared_stamp(self, stamp):
        """`stamp`, as the same object as the previous reading's when they are equal: the
        readings of one cycle share one. On a 32-bit port a Unix time (> 2**30) is a long
        integer of 32 B, one per reading of a batch otherwise (py/mpconfig.h, MP_SMALL_INT)."""
        if stamp != self._last_stamp:
            self._last_stamp = stamp
        return self._last_stamp

    def _scan_newest(self):
        """Bring `_next` and the newest segment's size in line with what is on flash."""
        while self._segments:
            start = self._segments[-1]
            try:
                f = open(self._path(str(start)), "rb")
            except OSError:
                self._segments.pop()  # its creation did not survive
                continue
            last = start - 1
            with f:
                while self._read_header(f):
                    last = struct.unpack_from("<I", self._record, _SEQ_AT)[0]
                    f.seek(self._record[_LABEL_LENGTH_AT], 1)
                self._newest_size = f.tell()
            self._next = max(self._next, last + 1)
            return
        self._newest_size = 0

    def _make_directory(self):
        """True when the spool's folder exists; False when the filesystem had no room for it."""
        try:
            os.mkdir(self.directory)
        except OSError as e:
            if e.errno != _EEXIST:
                return False
        return True

    # -- floor, confirmations, drops

    def _add_ack(self, seq):
        """Record `seq` as confirmed; False if it already was."""
        ranges = self._acked
        for i, (first, last) in enumerate(ranges):
            if first <= seq <= last:
                return False
            if seq == last + 1:
                ranges[i][1] = seq
                if i + 1 < len(ranges) and ranges[i + 1][0] == seq + 1:
                    ranges[i][1] = ranges.pop(i + 1)[1]
                return True
            if seq == first - 1:
                ranges[i][0] = seq
                return True
            if seq < first:
                ranges.insert(i, [seq, seq])
                return True
        ranges.append([seq, seq])
        return True

    def _forget_below(self, floor):
        """Move the floor up to `floor`, counting the unconfirmed readings passed as dropped,
        then on over the confirmed run that starts there."""
        floor = max(floor, self._floor)
        passed = floor - self._floor
        while self._acked and self._acked[0][0] < floor:
            first, last = self._acked[0]
            if last < floor:
                passed -= last - first + 1
                self._acked.pop(0)
            else:
                passed -= floor - first
                self._acked[0][0] = floor
        while self._acked and self._acked[0][0] == floor:
            floor = self._acked.pop(0)[1] + 1
        self._dropped += passed
        self._floor = floor

    def _drop(self, n):
        """Drop the `n` oldest unconfirmed readings."""
        floor = self._floor
        for first, last in self._acked:
            if floor + n <= first:
                break
            n -= first - floor
            floor = last + 1
        self._forget_below(floor + n)
        self._save_head()
        self._remove_spent_segments()

    def _make_room(self):
        """Drop the oldest segment for a full filesystem; False when there is none to drop."""
        if len(self._segments) < 2 and self.depth() == 0:
            return False
        end = self._segments[1] if len(self._segments) > 1 else self._next
        self._forget_below(end)
        try:
            self._save_head()
        except OSError as e:
            # No room even for the head: remove the segment first. Only an older segment may
            # go before the head says so (see the module docstring); the newest holds `next`.
            if e.errno != _ENOSPC or len(self._segments) < 2:
                raise
            atomic.remove_quietly(self._path(str(self._segments.pop(0))))
            self._save_head()
        self._remove_spent_segments()
        return True

    def _remove_spent_segments(self):
        """Remove the segments whose every seq is below the floor."""
        segments = self._segments
        while segments and (segments[1] if len(segments) > 1 else self._next) <= self._floor:
            atomic.remove_quietly(self._path(str(segments.pop(0))))
            if not segments:
                self._newest_size = 0

    # -- boots and anchors

    def _anchor_this_boot(self):
        if self._anchor is not None or not self._clock.wall_known():
            return
        self._anchor = self._clock.to_wall(0)
        if self._saved_boot == self._boot:  # this boot spooled readings stamped with mono_ms
            self._anchors.append([self._boot, self._anchor])
            del self._anchors[:-_MAX_ANCHORS]
            try:
                self._save_head()
            except OSError:
                pass  # kept in memory; it reaches flash with the next head write

    def _saved_anchor(self, boot):
        for anchored_boot, anchor in self._anchors:
            if anchored_boot == boot:
                return anchor
        return None

    def _save_head_making_room(self):
        try:
            self._save_head()
        except OSError as e:
            if e.errno != _ENOSPC or not self._make_room():  # which saves the head
                raise

    def _save_head(self):
        if self._floor == self._next:
            self._anchors = []  # nothing left that is stamped with an earlier boot's clock
        atomic.write_json(
            self._path(_HEAD),
            {
                "next": self._next,
                "floor": self._floor,
                "acked": self._acked,
                "dropped": self._dropped,
                "boot": self._saved_boot,
                "anchors": self._anchors,
            },
        )

    def _path(self, name):
        return self.directory + "/" + name


def _fields(reading):
    """(ROM, label bytes, value, flags) of one reading; ValueError names what is wrong."""
    rom = reading.rom
    if len(rom) != 8:
        raise ValueError("a reading needs an 8-byte sensor ROM, not %r" % (rom,))
    label = (reading.label or "").encode()
    if len(label) > 255:
        raise ValueError("sensor label %r is longer than 255 bytes" % reading.label)
    if reading.c16 is not None:
        return rom, label, reading.c16, 0
    if reading.error not in _REASONS:
        raise ValueError("a reading needs c16 or one of the reasons %s" % (_REASONS,))
    return rom, label, _REASONS.index(reading.error), _HAS_ERROR
