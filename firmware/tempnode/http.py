"""The one HTTP/1.1 client: verified TLS, a hard deadline per request, bounded memory, keep-alive.

    session = Session("https://cloud.example:8443", clock, ca_der=der)
    reply = session.request("POST", "/oauth/token", body, deadline_ms, headers, fields=names)
    reply.status, reply.header("retry-after"), reply.json()   # json(): the picked fields
    session.close()

TLS. `tls.SSLContext(PROTOCOL_TLS_CLIENT)` with `verify_mode = CERT_REQUIRED` (set explicitly:
the `ssl` wrapper's default is CERT_NONE, boards-and-micropython.md), the CA loaded as DER (PEM
fails with "invalid cert" on the unix build), `server_hostname` passed so the certificate must
name the host. A failed verification raises ValueError in MicroPython; it is reported as an
`HttpError` of kind "tls". `insecure_tls=True` (the ESP8266's axTLS cannot verify) turns
verification off; plain HTTP is used only for an `http://` URL, which the caller allows only
when the configuration says so explicitly.

Deadlines. `deadline_ms` is an instant on `clock.monotonic_ms()` that no request outlives by
more than one poll wake-up and one buffer's worth of work (a few ms; README, "Design notes").
A socket timeout cannot promise that: it bounds each system call, and one `readinto` makes as
many calls as a dripping server needs (a reply at 1 byte/s kept a blocking read going for
minutes). So after the TCP connect (one call, given the time left) the socket is non-blocking:
every read and write takes what is there, and waits in `select.poll` for at most the time left
(and at most `_STEP_TIMEOUT_MS` without a byte, an inactivity limit). The TLS handshake runs
inside the first write (`do_handshake_on_connect=False`), under the same rule. DNS is resolved
once per session: `getaddrinfo` blocks without a timeout on every port.

Memory. One buffer of `_BUFFER` bytes per session carries the request out (headers and body in
records of that size) and the reply in; the reply is parsed inside it: status line, the headers
in `_KEPT_HEADERS` (a longer line of another header is skipped, not stored), and the body,
whatever its framing (Content-Length, chunked, until close), streams through it into a sink
that keeps only what the caller asked for: the `fields` of a JSON object (`json_fields`, into
one preallocated arena), or the raw bytes `into` a caller's buffer. A reply therefore costs the
same heap whether it is 20 bytes or 20 MB; what the server sends past `_REPLY_MAX` bytes of
body (framing included) or past the caller's buffer is an `HttpError` "too_large".

Keep-alive. The connection stays open after a response unless the server answers HTTP/1.0,
says `Connection: close`, or ends the body by closing. A request sent on a reused connection
that gets no byte back (the server closed it while idle) is sent once more on a new one; that
is safe for every request the firmware makes (ingest is idempotent by seq; a refresh whose reply
was lost must be retried promptly with the same token anyway, clouds-and-tokens.md).

The `Date` header of every response sets the wall clock while no better source (NTP) has.
Sockets are closed on every error path and by `close()` (an unclosed TLS socket on the Pico W
leaks 32-38 KB of mbedTLS buffers). `connections` and `requests` count TLS handshakes (one per
connection) and requests, for tests and benchmarks; `last_reply_ms` is when a complete reply
last arrived (what "the cloud answered" means for the logger's silence reboot).
"""

# pyright: reportOptionalMemberAccess=false
# (`_raw` and `_stream` are None only between connections; the methods using them run on an
# open one.)

import binascii
import io
import select
import socket

import tls
from micropython import const

from tempnode import outcomes
from tempnode.json_fields import FieldPicker
from tempnode.redact import LinkError

_STEP_TIMEOUT_MS = const(10000)  # no byte for this long: the server has stalled
_BUFFER = const(1024)  # the longest status or kept header line, and the send record size
_HEADERS_MAX = const(64)
_REPLY_MAX = const(262144)  # body bytes a reply may have (framing included); then "too_large"
VALUE_MAX = const(3072)  # JSON text of the wanted fields of one reply, in all
_DATE_TOLERANCE_S = const(2)
_ETIMEDOUT = const(110)
_EAGAIN = const(11)
_EINPROGRESS = const(115)
_IPPROTO_TCP = const(6)  # not exported by every port's socket module
_TCP_NODELAY = const(1)
_LF = const(10)
ERROR_FIELDS = ("error", "error_description", "err")  # what every error reply may say

_KEPT_HEADERS = (
    "content-length",
    "transfer-encoding",
    "connection",
    "content-type",
    "date",
    "retry-after",
    "www-authenticate",
    "location",
)
_MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec"
_HEX_DIGITS = b"0123456789ABCDEF"


class HttpError(LinkError):
    """No complete response. `kind`: dns, connect, tls, timeout, closed, protocol, too_large, or
    deadline (the deadline had passed before anything was sent: nobody failed)."""

    def __init__(self, kind, detail):
        super().__init__("%s: %s" % (kind, detail), outcomes.of_error_kind(kind))
        self.kind = kind


class _StaleConnection(Exception):
    """A reused keep-alive connection was closed by the server before this request."""


class Response:
    """`status`, the kept headers, and the body as the request asked for it: `json()` is the
    dict of picked fields (None when the body was not a JSON object), `body` the bytes received
    `into` the caller's buffer (a memoryview), `size` the body's length in bytes."""

    def __init__(self, status, headers, fields=None, body=None, size=0):
        self.status = status
        self._headers = headers
        self.fields = fields
        self.body = body
        self.size = size

    def header(self, name):
        """The header's value (str) or None; `name` in lower case, one of `_KEPT_HEADERS`."""
        return self._headers.get(name)

    def json(self):
        """The picked fields of a JSON object body (a dict), or None."""
        return self.fields

    def retry_after_ms(self):
        """Retry-After (RFC 9110 §10.2.3: seconds or an HTTP-date) in ms, or None."""
        value = self.header("retry-after")
        if value is None:
            return None
        try:
            return max(0, int(value)) * 1000
        except ValueError:
            pass
        at = parse_http_date(value)
        now = parse_http_date(self.header("date") or "")
        if at is None or now is None:
            return None
        return max(0, at - now) * 1000


class Session:
    """Requests to `base_url`'s server, or to any other given by absolute URL: one connection
    at a time (an upload's renewal on another host closes the readings connection first), one
    set of buffers and one TLS context (one CA) for all of them."""

    def __init__(self, base_url, clock, ca_der=None, insecure_tls=False):
        self._base = _split_url(base_url)[0]
        self._origin = self._base  # (tls, host, port, host header) of the connection
        self.clock = clock
        self._ca_der = ca_der
        self._insecure_tls = insecure_tls
        self._context = _tls_context(ca_der, insecure_tls) if self._base[0] else None
        self._addresses = {}  # (host, port) -> getaddrinfo entry, for this session
        self._raw = None
        self._stream = None
        self._poller = None
        self._buffer = bytearray(_BUFFER)
        self._start = 0  # unread reply bytes are `_buffer[_start:_end]`
        self._end = 0
        self._received = 0  # bytes of the current reply so far
        self._picker = FieldPicker(bytearray(VALUE_MAX))
        self.step_timeout_ms = _STEP_TIMEOUT_MS
        self.connections = 0
        self.requests = 0
        self.last_reply_ms = None  # when the server last answered anything (any status)

    def request(self, method, target, body, deadline_ms, headers=None, fields=(), into=None):
        """Send one request and return its `Response`; raise `HttpError` on any failure.

        `target` is a path on `base_url`'s server or an absolute URL. `body` is bytes-like,
        a str (sent as UTF-8), None, or a streamed body: an object with
        `write_to(stream)` and `len()` (its size in bytes, see `measure`), written straight to
        the connection so that no copy of a big body is ever held in memory. The reply's body
        is parsed for the top-level JSON `fields` named (plus `ERROR_FIELDS`), or, with
        `into` (a writable buffer), copied there as raw bytes."""
        if deadline_ms <= self.clock.monotonic_ms():
            raise HttpError("deadline", "no time left for a request")
        origin, path = self._base, target
        if target.startswith("http"):
            origin, path = _split_url(target)
        if origin != self._origin:
            self._disconnect()
            self._origin = origin
        try:
            if self._stream is not None:
                try:
                    return self._exchange(method, path, body, headers, deadline_ms, fields, into)
                except _StaleConnection:
                    self._disconnect()
            return self._exchange(method, path, body, headers, deadline_ms, fields, into)
        except BaseException:
            self._disconnect()
            raise

    def close(self):
        """End the session: close the connection and forget the resolved addresses."""
        self._disconnect()
        self._addresses = {}

    def _disconnect(self):
        for s in (self._stream, self._raw):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        self._stream = None
        self._raw = None
        self._poller = None
        self._start = self._end = 0

    def _exchange(self, method, path, body, headers, deadline_ms, fields, into):
        reused = self._stream is not None
        if not reused:
            self._connect(deadline_ms)
        self.requests += 1
        streamed = hasattr(body, "write_to")
        if not streamed and body:
            # A str goes out as its UTF-8 bytes without a copy: memoryview(str) is bytes.
            body = memoryview(body)  # pyright: ignore[reportArgumentType]
        head = "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (
            method,
            path,
            self._origin[3],
            len(body) if body else 0,
        )
        for name in headers or ():
            head += "%s: %s\r\n" % (name, headers[name])
        out = _BodyStream(self, deadline_ms)
        try:
            out.write(head + "\r\n")  # shares a TLS record with the body's start
            if streamed:
                body.write_to(out)  # pyright: ignore[reportAttributeAccessIssue]
            elif body:
                out.write(body)
            out.flush()
        except HttpError as e:
            if reused and e.kind == "closed":
                raise _StaleConnection()
            raise
        reply, keep_open = self._read_response(method, reused, deadline_ms, fields, into)
        self.last_reply_ms = self.clock.monotonic_ms()
        if not keep_open or self._start != self._end:  # bytes past the reply: not HTTP/1.1
            self._disconnect()
        self._hint_clock(reply.header("date"))
        return reply

    def _connect(self, deadline_ms):
        use_tls, host, port, _ = self._origin
        address = self._addresses.get((host, port))
        if address is None:
            try:
                address = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0]
            except (OSError, IndexError) as e:
                raise HttpError("dns", "cannot resolve %s (%s)" % (host, _describe(e)))
            self._addresses[(host, port)] = address
        family, kind, proto = address[0], address[1], address[2]
        try:
            self._raw = socket.socket(family, kind, proto)
        except OSError as e:  # e.g. out of sockets (lwIP has a handful), or no network
            raise HttpError("connect", "no socket: " + _describe(e))
        self._stream = self._raw
        try:
            # Headers and body go out in separate writes; with Nagle's algorithm the second
            # waits for the ACK of the first, which a delayed-ACK peer holds up to 40 ms+.
            self._raw.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
        except OSError:
            pass  # a port that cannot set it still works, only slower
        left = deadline_ms - self.clock.monotonic_ms()
        if left <= 0:
            raise HttpError("deadline", "no time left to connect")
        self._raw.settimeout(min(left, self.step_timeout_ms) / 1000)
        try:
            self._raw.connect(address[-1])
        except OSError as e:
            where = "%s:%d: %s" % (host, port, _describe(e))
            raise HttpError(_timeout_or(e, "connect"), where)
        self._raw.setblocking(False)
        if use_tls:
            if self._context is None:
                self._context = _tls_context(self._ca_der, self._insecure_tls)
            try:
                self._stream = self._context.wrap_socket(
                    self._raw, server_hostname=host, do_handshake_on_connect=False
                )
            except OSError as e:
                detail = "TLS setup for %s failed (%s)" % (host, _describe(e))
                raise HttpError("tls", detail)
        self._poller = select.poll()
        self._poller.register(self._stream, select.POLLIN)
        self._handshaking = use_tls  # until the first reply byte arrives
        self.connections += 1

    def _wait(self, events, deadline_ms, what):
        """Wait until the stream is ready for `events`, or raise "timeout"."""
        left = deadline_ms - self.clock.monotonic_ms()
        if left <= 0:
            raise HttpError("timeout", "the request's deadline passed while %s" % what)
        step = min(left, self.step_timeout_ms)
        self._poller.modify(self._stream, events)
        if not self._poller.poll(step):
            if step < left:
                raise HttpError("timeout", "no byte for %.1f s while %s" % (step / 1000, what))
            if deadline_ms - self.clock.monotonic_ms() <= 0:
                raise HttpError("timeout", "the request's deadline passed while %s" % what)

    def _write(self, data, deadline_ms):
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            try:
                n = self._stream.write(view[sent:])
            except OSError as e:
                if not _would_block(e):
                    raise self._failure(e, "sending")
                n = None
            except ValueError as e:  # mbedTLS's certificate check, during the handshake
                raise HttpError(
                    "tls", "certificate of %s not accepted: %s" % (self._origin[1], _first_line(e))
                )
            if n is None:
                self._wait(select.POLLOUT, deadline_ms, "sending")
                continue
            if not n:
                raise HttpError("closed", "sending: the connection is closed")
            sent += n

    def _failure(self, error, what):
        """The HttpError for an OSError while `what`: mbedTLS reports its own errors as
        negative codes (e.g. -29184, an invalid record: the server does not speak TLS), which
        before the first reply byte mean the handshake failed."""
        if self._handshaking and _errno(error) > 0x1000:
            detail = "handshake with %s failed (%s)" % (self._origin[1], _describe(error))
            return HttpError("tls", detail)
        return HttpError(_timeout_or(error, "closed"), "%s: %s" % (what, _describe(error)))

    def _fill(self, deadline_ms):
        """Read more of the reply into the buffer; False at the end of the connection."""
        buffer = self._buffer
        if self._start == self._end:
            self._start = self._end = 0
        elif self._end == _BUFFER:
            if not self._start:
                raise HttpError("protocol", "a line of the reply is over %d bytes" % _BUFFER)
            kept = self._end - self._start
            buffer[:kept] = memoryview(buffer)[self._start : self._end]
            self._start, self._end = 0, kept
        while True:
            try:
                n = self._stream.readinto(memoryview(buffer)[self._end :])
            except OSError as e:
                if not _would_block(e):
                    raise self._failure(e, "reading")
                n = None
            except ValueError as e:  # a TLS alert or certificate failure during the handshake
                raise HttpError(
                    "tls", "TLS with %s failed: %s" % (self._origin[1], _first_line(e))
                )
            if n is None:
                self._wait(select.POLLIN, deadline_ms, "waiting for the reply")
                continue
            if n:
                self._handshaking = False
            self._end += n
            self._received += n
            return n > 0

    def _line(self, deadline_ms, reused=False):
        """The next line (through its LF) as (start, end) in the buffer; consumed."""
        scanned = self._start
        while True:
            lf = self._buffer.find(b"\n", scanned, self._end)
            if lf >= 0:
                start = self._start
                self._start = lf + 1
                return start, lf + 1
            scanned = self._end - self._start  # what `_fill` may move to the front
            if not self._fill(deadline_ms):
                if not self._received:
                    if reused:
                        raise _StaleConnection()
                    raise HttpError("closed", "the server closed the connection without a reply")
                raise HttpError("closed", "the reply ended in the middle of a line")
            scanned += self._start

    def _skip_line(self, deadline_ms):
        """Drop the rest of an over-long line (a header the client does not keep)."""
        while True:
            lf = self._buffer.find(b"\n", self._start, self._end)
            if lf >= 0:
                self._start = lf + 1
                return
            self._start = self._end
            if not self._fill(deadline_ms):
                raise HttpError("closed", "the reply ended in the middle of a line")

    def _read_response(self, method, reused, deadline_ms, fields, into):
        self._received = 0
        status, http10 = self._status_line(deadline_ms, reused)
        headers = self._read_headers(deadline_ms)
        while status < 200:  # 1xx interim responses (RFC 9110 §15.2) are skipped
            status, http10 = self._status_line(deadline_ms, False)
            headers = self._read_headers(deadline_ms)
        connection = headers.get("connection", "").lower()
        keep_open = not http10 and "close" not in connection
        sink = _Sink(self._picker, fields, into)
        if method != "HEAD" and status not in (204, 304):
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._read_chunked(sink, deadline_ms)
            elif "content-length" in headers:
                self._read_sized(sink, headers["content-length"], deadline_ms)
            else:
                self._read_until_close(sink, deadline_ms)
                keep_open = False
        return sink.response(status, headers), keep_open

    def _status_line(self, deadline_ms, reused):
        try:
            a, b = self._line(deadline_ms, reused)
        except HttpError as e:
            if e.kind != "protocol":
                raise
            if self._buffer.startswith(b"HTTP/1."):
                raise HttpError("protocol", "the status line is over %d bytes" % _BUFFER)
            raise HttpError("protocol", "the reply is not HTTP")
        return _parse_status(bytes(memoryview(self._buffer)[a:b]))

    def _read_headers(self, deadline_ms):
        headers = {}
        buffer = self._buffer
        for _ in range(_HEADERS_MAX):
            try:
                a, b = self._line(deadline_ms)
            except HttpError as e:
                if e.kind != "protocol":
                    raise
                if self._kept_header_at(self._start):
                    raise HttpError("protocol", "a header line is over %d bytes" % _BUFFER)
                self._skip_line(deadline_ms)
                continue
            if b - a <= 2 and buffer[a] in (13, _LF):
                return headers
            colon = buffer.find(b":", a, b)
            if colon < 0:
                raise HttpError("protocol", "a header line has no colon")
            name = bytes(memoryview(buffer)[a:colon]).strip().lower().decode()
            if name in _KEPT_HEADERS:
                headers[name] = bytes(memoryview(buffer)[colon + 1 : b]).strip().decode()
        raise HttpError("protocol", "more than %d header lines" % _HEADERS_MAX)

    def _kept_header_at(self, start):
        colon = self._buffer.find(b":", start, self._end)
        if colon < 0:
            return False
        name = bytes(memoryview(self._buffer)[start:colon]).strip().lower().decode()
        return name in _KEPT_HEADERS

    def _pass_body(self, sink, length, deadline_ms):
        """Hand `length` body bytes to `sink` as they arrive."""
        while length:
            if self._start == self._end and not self._fill(deadline_ms):
                raise HttpError("closed", "the reply ended %d bytes before its end" % length)
            take = min(length, self._end - self._start)
            sink.feed(self._buffer, self._start, self._start + take)
            self._start += take
            length -= take

    def _read_sized(self, sink, length_text, deadline_ms):
        try:
            length = int(length_text)
        except ValueError:
            raise HttpError("protocol", "Content-Length is not a number")
        if length < 0 or length > _REPLY_MAX:
            raise HttpError("too_large", "reply body of %d bytes, over %d" % (length, _REPLY_MAX))
        self._pass_body(sink, length, deadline_ms)

    def _read_chunked(self, sink, deadline_ms):
        # RFC 9112 §7.1: size line (hex, extensions after ";"), data, CRLF; a 0 size ends it,
        # then trailer lines up to an empty one. The cap counts what arrives, framing included.
        received = 0
        while True:
            a, b = self._line(deadline_ms)
            received += b - a
            size = _chunk_size(memoryview(self._buffer)[a:b])
            if size < 0:
                raise HttpError("protocol", "a chunk size line is not hexadecimal")
            received += size + 2
            if received > _REPLY_MAX:
                raise HttpError("too_large", "chunked reply body over %d bytes" % _REPLY_MAX)
            if size == 0:
                break
            self._pass_body(sink, size, deadline_ms)
            a, b = self._line(deadline_ms)
            if b - a > 2:
                raise HttpError("protocol", "chunk data longer than its size")
        while True:  # trailer fields (RFC 9112 §7.1.2) are not used
            a, b = self._line(deadline_ms)
            received += b - a
            if b - a <= 2:
                return
            if received > _REPLY_MAX:
                raise HttpError("too_large", "chunked reply body over %d bytes" % _REPLY_MAX)

    def _read_until_close(self, sink, deadline_ms):
        received = 0
        while True:
            if self._start == self._end and not self._fill(deadline_ms):
                return
            received += self._end - self._start
            if received > _REPLY_MAX:
                raise HttpError("too_large", "reply body over %d bytes" % _REPLY_MAX)
            sink.feed(self._buffer, self._start, self._end)
            self._start = self._end

    def _hint_clock(self, date):
        # NTP outranks a Date header; a Date header corrects an RTC that drifted in deep sleep.
        if date is None or self.clock.wall_source not in (None, "http-date", "rtc"):
            return
        unix_s = parse_http_date(date)
        now = self.clock.wall_time()
        if unix_s is not None and (now is None or abs(now - unix_s) > _DATE_TOLERANCE_S):
            self.clock.set_wall_time(unix_s, "http-date")


class _Sink:
    """Where a reply's body goes: the field picker, a caller's buffer, or nowhere."""

    def __init__(self, picker, fields, into):
        self.picker = picker
        self.into = into
        self.size = 0
        if into is None:
            picker.start(fields + ERROR_FIELDS if fields else ERROR_FIELDS)

    def feed(self, buf, start, end):
        n = end - start
        if self.into is not None:
            if self.size + n > len(self.into):
                raise HttpError("too_large", "reply body over %d bytes" % len(self.into))
            self.into[self.size : self.size + n] = memoryview(buf)[start:end]
        else:
            self.picker.feed(buf, start, end)
        self.size += n

    def response(self, status, headers):
        if self.into is not None:
            return Response(status, headers, None, memoryview(self.into)[: self.size], self.size)
        fields = self.picker.fields() if self.size else None
        return Response(status, headers, fields, None, self.size)


class _BodyStream(io.IOBase):
    """A stream that counts what is written to it and, given a session, sends it in records of
    `_BUFFER` bytes through the session's buffer (json.dump writes a few bytes at a time; each
    write would otherwise be a TLS record of its own)."""

    def __init__(self, session=None, deadline_ms=0):
        self.session = session
        self.deadline_ms = deadline_ms
        self.size = 0
        self._used = 0

    def write(self, data):
        view = memoryview(data)
        self.size += len(view)
        if self.session is None:
            return len(view)
        buffer = self.session._buffer
        done = 0
        while done < len(view):
            take = min(len(view) - done, _BUFFER - self._used)
            buffer[self._used : self._used + take] = view[done : done + take]
            self._used += take
            done += take
            if self._used == _BUFFER:
                self.flush()
        return len(view)

    def flush(self):
        if self._used and self.session is not None:
            self.session._write(memoryview(self.session._buffer)[: self._used], self.deadline_ms)
        self._used = 0


def measure(body):
    """The size in bytes of a streamed body (what `write_to` writes)."""
    counter = _BodyStream()
    body.write_to(counter)
    return counter.size


class FormEncoder(io.IOBase):
    """Percent-encodes everything written to it into `stream` (a form field's value)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, data):
        out = bytearray()
        _quote_into(out, data)
        self.stream.write(out)
        return len(data)


def urlencode(pairs):
    """(name, value) pairs as an application/x-www-form-urlencoded body (bytes-like)."""
    out = bytearray()
    for name, value in pairs:
        if out:
            out.append(38)  # "&"
        _quote_into(out, name)
        out.append(61)  # "="
        _quote_into(out, value)
    return out


def basic_auth(user, password):
    """An `Authorization: Basic` value; RFC 6749 §2.3.1 form-encodes both parts first."""
    raw = bytearray()
    _quote_into(raw, user)
    raw.append(58)  # ":"
    _quote_into(raw, password)
    return "Basic " + binascii.b2a_base64(bytes(raw)).strip().decode()


def _quote_into(out, data):
    # Everything but the unreserved characters of RFC 3986 §2.3 is percent-encoded.
    for byte in data.encode() if isinstance(data, str) else data:
        if 48 <= byte <= 57 or 65 <= byte <= 90 or 97 <= byte <= 122 or byte in (45, 46, 95, 126):
            out.append(byte)
        else:
            out.append(37)  # "%"
            out.append(_HEX_DIGITS[byte >> 4])
            out.append(_HEX_DIGITS[byte & 15])


def _split_url(url):
    """((tls, host, port, host header), path) of an absolute http(s) URL."""
    scheme, rest = url.split("://", 1)
    hostport, slash, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    tls_on = scheme == "https"
    origin = (tls_on, host, int(port) if port else (443 if tls_on else 80), hostport)
    return origin, slash + path if slash else "/"


def _tls_context(ca_der, insecure_tls):
    context = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    if insecure_tls:
        context.verify_mode = tls.CERT_NONE  # pyright: ignore[reportAttributeAccessIssue]
        return context
    if not ca_der:
        raise LinkError("no CA certificate: TLS needs cloud.ca (a DER file)", outcomes.CONFIG)
    context.verify_mode = tls.CERT_REQUIRED  # pyright: ignore[reportAttributeAccessIssue]
    context.load_verify_locations(ca_der)
    return context


def _parse_status(line):
    # "HTTP/1.1 200 OK": anything else is not an HTTP/1.x reply.
    if not line.startswith(b"HTTP/1.") or len(line) < 12 or line[8] != 32:
        raise HttpError("protocol", "the reply is not HTTP")
    try:
        status = int(line[9:12])
    except ValueError:
        raise HttpError("protocol", "the status code is not a number")
    return status, line[7] == 48  # "HTTP/1.0"


def parse_http_date(text):
    """Unix seconds of an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), or None."""
    parts = text.split()
    if len(parts) != 6 or parts[5] != "GMT":
        return None
    month = _MONTHS.find(parts[2]) // 3 + 1
    clock = parts[4].split(":")
    try:
        day, year = int(parts[1]), int(parts[3])
        hour, minute, second = int(clock[0]), int(clock[1]), int(clock[2])
    except (ValueError, IndexError):
        return None
    if month < 1 or len(parts[2]) != 3:
        return None
    return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, "chrono-compatible
    low-level date algorithms"); no `time.mktime`, whose epoch differs between ports."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _chunk_size(line):
    """The size of a chunk size line ("1a;ext=x\r\n"), or -1 when it is not one; a size over
    `_REPLY_MAX` stops there (the caller refuses it)."""
    size = -1
    for byte in line:
        if 48 <= byte <= 57:
            digit = byte - 48
        elif 97 <= byte | 32 <= 102:
            digit = (byte | 32) - 87
        elif byte in (59, 13, _LF, 32, 9):  # ";", CR, LF, white space end the number
            break
        else:
            return -1
        size = max(size, 0) * 16 + digit
        if size > _REPLY_MAX:
            break
    return size


def _errno(error):
    # mbedTLS on the 1.25 unix port reports a socket timeout as OSError(-110).
    code = error.args[0] if error.args and isinstance(error.args[0], int) else 0
    return -code if code < 0 else code


def _would_block(error):
    return _errno(error) in (_EAGAIN, _EINPROGRESS)


def _timeout_or(error, kind):
    return "timeout" if _errno(error) in (_ETIMEDOUT, _EAGAIN) else kind


def _describe(error):
    if isinstance(error, OSError) and error.args and isinstance(error.args[0], int):
        return "OSError %d" % error.args[0]
    return _first_line(error)


def _first_line(error):
    text = str(error).strip()
    return text.split("\n", 1)[0] or type(error).__name__
