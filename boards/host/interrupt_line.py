"""Ctrl-C from the console while code runs, raised where a board raises it.

On a board the UART's receive interrupt sees Ctrl-C and schedules a KeyboardInterrupt, which
the VM raises between two bytecodes (py/scheduler.c, `mp_sched_keyboard_interrupt`). The unix
port raises it from its SIGINT handler instead (MICROPY_ASYNC_KBD_INTR), wherever the
interpreter is: one that lands in the garbage collector leaves the heap locked for good
("memory allocation failed, heap is locked", then "FATAL: uncaught NLR" and the process dies),
which no board does. So the host tools (`host_tools/interrupt_line.py`) send Ctrl-C down this
line instead: a file (`TEMPNODE_INTERRUPT`) of two little-endian 32-bit counts, the Ctrl-Cs
sent (the host writes it) and taken (the board writes it). `check()` runs in the `time`
functions the firmware calls, reads the file at most every `_CHECK_EVERY_MS` of real time, and
raises a Ctrl-C sent since it last looked. Ctrl-Cs sent before this boot opened the line are
not this boot's, as a board loses the keys pressed while it resets.
"""

import os
import struct

import utime as _host
from micropython import const

_CHECK_EVERY_MS = const(20)
_path = os.getenv("TEMPNODE_INTERRUPT")
_line = open(_path, "r+b") if _path else None
_counts = bytearray(8)
_taken = 0
_next_check_ms = 0


def _sent():
    _line.seek(0)
    _line.readinto(_counts)
    return struct.unpack_from("<I", _counts)[0]


def _take(count):
    global _taken
    _taken = count
    _line.seek(4)
    _line.write(struct.pack("<I", count))


def check():
    """Raise KeyboardInterrupt if a Ctrl-C came down the line since the last look."""
    global _next_check_ms
    if _line is None:
        return
    now = _host.ticks_ms()
    if _host.ticks_diff(now, _next_check_ms) < 0:
        return
    _next_check_ms = _host.ticks_add(now, _CHECK_EVERY_MS)
    sent = _sent()
    if sent != _taken:
        new = sent > _taken  # fewer: the host took back one this boot had not looked at
        _take(sent)
        if new:
            raise KeyboardInterrupt


def sleep_ms(ms):
    """Wait `ms` of real time, as a board's sleep does, and stop at a Ctrl-C."""
    end = _host.ticks_add(_host.ticks_ms(), ms)
    while True:
        check()
        left = _host.ticks_diff(end, _host.ticks_ms())
        if left <= 0:
            return
        _host.sleep_ms(min(left, _CHECK_EVERY_MS))


if _line is not None:
    _take(_sent())
