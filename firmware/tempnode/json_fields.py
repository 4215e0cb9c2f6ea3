"""The wanted top-level fields of a JSON object, picked out while the body streams in.

    picker = FieldPicker(bytearray(4096))       # the arena for wanted values, reused
    picker.start(("access_token", "expires_in"))
    picker.feed(buffer, start, end)             # the body in pieces, in order
    fields = picker.fields()                    # {"access_token": "...", ...} or None

Why not `json.loads`: it needs the whole body in memory and builds every value in it. An
OpenID Connect token reply carries an `id_token` of a kilobyte or more that the device never
reads, and a proxy's error page or a hostile server can send any size. Here the raw JSON text of
each wanted value is copied into one preallocated arena (at most its size in all), the rest of
the body is skipped as it passes, and only the wanted values are decoded (by `json.loads`, from
the arena) once the object is complete. So a reply costs the same heap whatever its size, and a
value is never half decoded.

`fields()` is None when the body is not one complete JSON object (not JSON, a bare array,
trailing text, cut short); a wanted value too long for the arena is left out and its key named
in `too_long` (a caller that needs it says so; "the reply is unreadable" would hide why).
"""

import json

from micropython import const

# Parser states.
_START = const(0)  # before the opening brace
_KEY = const(1)  # expecting a key or the closing brace
_KEY_TEXT = const(2)  # inside a key
_COLON = const(3)
_VALUE = const(4)  # expecting a value
_STRING = const(5)  # inside a string value
_NESTED = const(6)  # inside an array or object value
_SCALAR = const(7)  # inside a number, true, false or null
_AFTER = const(8)  # after a value: a comma or the closing brace
_DONE = const(9)
_BAD = const(10)

_KEY_MAX = const(48)  # longer keys are never wanted ones
_QUOTE = const(34)
_BACKSLASH = const(92)
_OPEN_BRACE = const(123)
_CLOSE_BRACE = const(125)
_OPEN_BRACKET = const(91)
_CLOSE_BRACKET = const(93)
_COMMA = const(44)
_COLON_BYTE = const(58)


def _space(byte):
    return byte == 32 or byte == 10 or byte == 13 or byte == 9


class FieldPicker:
    def __init__(self, arena):
        self._arena = arena
        self._key = bytearray(_KEY_MAX)
        self.start(())

    def start(self, wanted):
        """Begin a new body; `wanted` is a tuple of key names."""
        self._wanted = wanted
        self._state = _START
        self._key_len = 0
        self._used = 0  # arena bytes holding finished values
        self._value_start = 0
        self._capture = None  # the key (str) whose value is being copied, or None
        self._spans = []  # (key, start, end) in the arena, in order
        self.too_long = []
        self._escape = False
        self._in_string = False  # inside a string nested in an array or object
        self._depth = 0
        self._after_comma = False

    def feed(self, buf, start, end):
        """Take the body bytes `buf[start:end]`."""
        i = start
        while i < end:
            state = self._state
            if state == _STRING:
                i = self._string(buf, i, end)
            elif state == _NESTED:
                i = self._nested(buf, i, end)
            elif state == _KEY_TEXT:
                i = self._key_text(buf, i, end)
            elif state == _SCALAR:
                byte = buf[i]
                if byte == _COMMA or byte == _CLOSE_BRACE or _space(byte):
                    self._end_value(buf, i)
                    continue  # the delimiter belongs to the next state
                self._keep(buf, i, i + 1)
                i += 1
            elif state == _BAD:
                return
            else:
                self._structure(buf[i])
                i += 1

    def fields(self):
        """The wanted fields found (a dict), or None when the body was not one JSON object."""
        if self._state != _DONE:
            return None
        found = {}
        view = memoryview(self._arena)
        for key, a, b in self._spans:
            try:
                # MicroPython's json.loads takes any buffer: no copy of the value's text.
                found[key] = json.loads(view[a:b])  # pyright: ignore[reportArgumentType]
            except ValueError:
                return None
        return found

    # -- the grammar, one byte at a time outside strings and nested values

    def _structure(self, byte):
        state = self._state
        if _space(byte):
            return
        if state == _START:
            self._state = _KEY if byte == _OPEN_BRACE else _BAD
        elif state == _KEY:
            if byte == _QUOTE:
                self._key_len = 0
                self._escape = False
                self._after_comma = False
                self._state = _KEY_TEXT
            else:
                # `{}` is complete; a closing brace after a comma is not JSON.
                closed = byte == _CLOSE_BRACE and not self._after_comma
                self._state = _DONE if closed else _BAD
        elif state == _COLON:
            self._state = _VALUE if byte == _COLON_BYTE else _BAD
        elif state == _VALUE:
            self._begin_value(byte)
        elif state == _AFTER:
            if byte == _COMMA:
                self._after_comma = True
                self._state = _KEY
            else:
                self._state = _DONE if byte == _CLOSE_BRACE else _BAD
        else:  # _DONE: only white space may follow the object
            self._state = _BAD

    def _key_text(self, buf, i, end):
        while i < end:
            byte = buf[i]
            i += 1
            if self._escape:
                self._escape = False
            elif byte == _BACKSLASH:
                self._escape = True
            elif byte == _QUOTE:
                self._state = _COLON
                self._capture = self._wanted_key()
                return i
            if self._key_len < _KEY_MAX:
                self._key[self._key_len] = byte
            self._key_len += 1
        return i

    def _wanted_key(self):
        if self._key_len > _KEY_MAX:
            return None
        key = memoryview(self._key)[: self._key_len]
        for name in self._wanted:
            if len(name) == len(key) and name == str(key, "utf-8"):
                return name
        return None

    def _begin_value(self, byte):
        self._value_start = self._used
        self._escape = False
        if byte == _QUOTE:
            self._state = _STRING
        elif byte == _OPEN_BRACE or byte == _OPEN_BRACKET:
            self._state = _NESTED
            self._depth = 1
            self._in_string = False
        else:
            self._state = _SCALAR
        self._keep_byte(byte)

    def _string(self, buf, i, end):
        """Inside a string value: jump to the next quote or backslash."""
        while i < end:
            if self._escape:
                self._escape = False
                self._keep(buf, i, i + 1)
                i += 1
                continue
            quote = buf.find(b'"', i, end)
            backslash = buf.find(b"\\", i, end)
            stop = quote if backslash < 0 or 0 <= quote < backslash else backslash
            if stop < 0:
                self._keep(buf, i, end)
                return end
            self._keep(buf, i, stop + 1)
            i = stop + 1
            if stop == backslash:
                self._escape = True
            else:
                self._end_value(buf, i)
                return i
        return i

    def _nested(self, buf, i, end):
        """Inside an array or object value: count brackets outside strings."""
        start = i
        while i < end:
            byte = buf[i]
            i += 1
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif byte == _BACKSLASH:
                    self._escape = True
                elif byte == _QUOTE:
                    self._in_string = False
            elif byte == _QUOTE:
                self._in_string = True
            elif byte == _OPEN_BRACE or byte == _OPEN_BRACKET:
                self._depth += 1
            elif byte == _CLOSE_BRACE or byte == _CLOSE_BRACKET:
                self._depth -= 1
                if not self._depth:
                    self._keep(buf, start, i)
                    self._end_value(buf, i)
                    return i
        self._keep(buf, start, i)
        return i

    def _keep_byte(self, byte):
        if self._capture is None:
            return
        if self._used < len(self._arena):
            self._arena[self._used] = byte
        self._used += 1

    def _keep(self, buf, a, b):
        """Copy `buf[a:b]`, part of the current value, into the arena if it is wanted."""
        if self._capture is None:
            return
        room = len(self._arena) - self._used
        n = b - a
        if 0 < room:
            take = min(n, room)
            self._arena[self._used : self._used + take] = memoryview(buf)[a : a + take]
        self._used += n

    def _end_value(self, buf, i):
        key = self._capture
        if key is not None:
            if self._used > len(self._arena):
                self.too_long.append(key)
                self._used = self._value_start
            else:
                self._spans.append((key, self._value_start, self._used))
        self._capture = None
        self._depth = 0
        self._state = _AFTER
