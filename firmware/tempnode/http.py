"""The one HTTP/1.1 client: verified TLS, a deadline per request, capped responses, keep-alive.

    session = Session("https://cloud.example:8443", clock, ca_der=der)
    reply = session.request("POST", "/oauth/token", body, deadline_ms, headers)
    reply.status, reply.header("retry-after"), reply.body, reply.json()
    session.close()

TLS. `tls.SSLContext(PROTOCOL_TLS_CLIENT)` with `verify_mode = CERT_REQUIRED` (set explicitly:
the `ssl` wrapper's default is CERT_NONE, boards-and-micropython.md), the CA loaded as DER (PEM
fails with "invalid cert" on the unix build), `server_hostname` passed so the certificate must
name the host. A failed verification raises ValueError in MicroPython; it is reported as an
`HttpError` of kind "tls". `insecure_tls=True` (the ESP8266's axTLS cannot verify) turns
verification off; plain HTTP is used only for an `http://` URL, which the caller allows only
when the configuration says so explicitly.

Deadlines. `deadline_ms` is an instant on `clock.monotonic_ms()`. Every blocking step (connect,
handshake, each write and each read) runs with the socket timeout min(_STEP_TIMEOUT_MS, time
left), so a stalled server costs at most one step timeout and never more than the deadline.
DNS is resolved once per session: `getaddrinfo` blocks without a timeout on every port.

Keep-alive. The connection stays open after a response unless the server answers HTTP/1.0,
says `Connection: close`, or ends the body by closing. A request sent on a reused connection
that gets no byte back (the server closed it while idle) is sent once more on a new one; that
is safe for every request the firmware makes (ingest is idempotent by seq; a refresh whose reply
was lost must be retried promptly with the same token anyway, clouds-and-tokens.md).

Responses. Status, the headers in `_KEPT_HEADERS` (looked up by lower-case name) and the body,
delimited by Content-Length, chunked coding or the end of the connection. A body bigger than
`body_max` is an `HttpError` of kind "too_large", never a MemoryError. Lines are read with a
length cap, so garbage without line ends cannot exhaust the heap. The `Date` header of every
response sets the wall clock while no better source (NTP) has.

Sockets are closed on every error path and by `close()` (an unclosed TLS socket on the Pico W
leaks 32-38 KB of mbedTLS buffers). `connections` and `requests` count TLS handshakes (one per
connection) and requests, for tests and benchmarks.
"""

# pyright: reportOptionalMemberAccess=false
# (`_raw` and `_stream` are None only between connections; the methods using them run on an
# open one.)

import binascii
import io
import json
import socket

import tls
from micropython import const

from tempnode.redact import LinkError

_STEP_TIMEOUT_MS = const(10000)
_LINE_MAX = const(1024)
_LINE_PIECE = const(128)  # most status and header lines fit
_HEADERS_MAX = const(64)
_CHUNK_SIZE_LINE_MAX = const(64)
_READ_SIZE = const(1024)
BODY_MAX = const(16384)
_SEND_BUFFER = const(1024)
_DATE_TOLERANCE_S = const(2)
_ETIMEDOUT = const(110)
_IPPROTO_TCP = const(6)  # not exported by every port's socket module
_TCP_NODELAY = const(1)
_EAGAIN = const(11)

_KEPT_HEADERS = (
    "content-length",
    "transfer-encoding",
    "connection",
    "content-type",
    "date",
    "retry-after",
    "www-authenticate",
)
_MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec"
_HEX_DIGITS = b"0123456789ABCDEF"


class HttpError(LinkError):
    """No complete response. `kind`: dns, connect, tls, timeout, closed, protocol, too_large."""

    def __init__(self, kind, detail):
        super().__init__("%s: %s" % (kind, detail), kind != "tls")
        self.kind = kind


class _StaleConnection(Exception):
    """A reused keep-alive connection was closed by the server before this request."""


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.body = body
        self._headers = headers

    def header(self, name):
        """The header's value (str) or None; `name` in lower case, one of `_KEPT_HEADERS`."""
        return self._headers.get(name)

    def json(self):
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

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
    def __init__(self, base_url, clock, ca_der=None, insecure_tls=False):
        scheme, rest = base_url.split("://", 1)
        hostport = rest.split("/", 1)[0]
        self.use_tls = scheme == "https"
        self.host, _, port = hostport.partition(":")
        self.port = int(port) if port else (443 if self.use_tls else 80)
        self._host_header = hostport
        self.clock = clock
        self._context = _tls_context(ca_der, insecure_tls) if self.use_tls else None
        self._address = None
        self._raw = None
        self._stream = None
        self._send_buffer = bytearray(_SEND_BUFFER)
        self.connections = 0
        self.requests = 0

    def request(self, method, path, body, deadline_ms, headers=None, body_max=BODY_MAX):
        """Send one request and return its `Response`; raise `HttpError` on any failure.

        `body` is bytes-like, a str (sent as UTF-8), None, or a streamed body: an object with
        `write_to(stream)` and `len()` (its size in bytes, see `measure`), written straight to
        the connection so that no copy of a big body is ever held in memory."""
        try:
            if self._stream is not None:
                try:
                    return self._exchange(method, path, body, headers, deadline_ms, body_max)
                except _StaleConnection:
                    self._disconnect()
            return self._exchange(method, path, body, headers, deadline_ms, body_max)
        except BaseException:
            self._disconnect()
            raise

    def close(self):
        """End the session: close the connection and forget the resolved address."""
        self._disconnect()
        self._address = None

    def _disconnect(self):
        for s in (self._stream, self._raw):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        self._stream = None
        self._raw = None

    def _exchange(self, method, path, body, headers, deadline_ms, body_max):
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
            self._host_header,
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
        reply, keep_open = self._read_response(method, reused, deadline_ms, body_max)
        if not keep_open:
            self._disconnect()
        self._hint_clock(reply.header("date"))
        return reply

    def _connect(self, deadline_ms):
        if self._address is None:
            try:
                info = socket.getaddrinfo(self.host, self.port, socket.AF_INET, socket.SOCK_STREAM)
                self._address = info[0]
            except (OSError, IndexError) as e:
                raise HttpError("dns", "cannot resolve %s (%s)" % (self.host, _describe(e)))
        family, kind, proto = self._address[0], self._address[1], self._address[2]
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
        self._set_timeout(deadline_ms)
        try:
            self._raw.connect(self._address[-1])
        except OSError as e:
            where = "%s:%d: %s" % (self.host, self.port, _describe(e))
            raise HttpError(_timeout_or(e, "connect"), where)
        if self._context is not None:
            try:
                self._stream = self._context.wrap_socket(self._raw, server_hostname=self.host)
            except OSError as e:
                detail = "handshake with %s failed (%s)" % (self.host, _describe(e))
                raise HttpError(_timeout_or(e, "tls"), detail)
            except ValueError as e:  # mbedTLS reports a failed certificate check this way
                detail = "certificate of %s not accepted: %s" % (self.host, _first_line(e))
                raise HttpError("tls", detail)
        self.connections += 1

    def _set_timeout(self, deadline_ms):
        left = deadline_ms - self.clock.monotonic_ms()
        if left <= 0:
            raise HttpError("timeout", "deadline passed")
        self._raw.settimeout(min(left, _STEP_TIMEOUT_MS) / 1000)

    def _write(self, data, deadline_ms):
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            self._set_timeout(deadline_ms)
            try:
                n = self._stream.write(view[sent:])
            except OSError as e:
                raise HttpError(_timeout_or(e, "closed"), "sending: " + _describe(e))
            if not n:
                raise HttpError("timeout", "sending: the server is not reading")
            sent += n

    def _readline(self, deadline_ms, limit=_LINE_MAX):
        """One line with its line end; a line longer than `limit` comes back cut, without."""
        line = b""
        while len(line) < limit:
            # The stream's readline(n) allocates n bytes before it reads one (py/stream.c,
            # vstr_init): a header line would cost `limit` bytes of heap. Read it in pieces.
            want = min(limit - len(line), _LINE_PIECE)
            self._set_timeout(deadline_ms)
            try:
                piece = self._stream.readline(want)  # pyright: ignore[reportCallIssue]
            except OSError as e:
                raise HttpError(_timeout_or(e, "closed"), "reading: " + _describe(e))
            line = piece if not line else line + piece
            if piece.endswith(b"\n"):
                return line
            if len(piece) < want:
                raise HttpError("closed", "the reply ended in the middle of a line")
        return line

    def _read_response(self, method, reused, deadline_ms, body_max):
        try:
            line = self._readline(deadline_ms)
        except HttpError as e:
            if reused and e.kind == "closed":
                raise _StaleConnection()
            raise
        status, http10 = _parse_status(line)
        headers = self._read_headers(deadline_ms)
        while status < 200:  # 1xx interim responses (RFC 9110 §15.2) are skipped
            status, http10 = _parse_status(self._readline(deadline_ms))
            headers = self._read_headers(deadline_ms)
        connection = headers.get("connection", "").lower()
        keep_open = not http10 and "close" not in connection
        if method == "HEAD" or status in (204, 304):
            return Response(status, headers, b""), keep_open
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked(deadline_ms, body_max)
        elif "content-length" in headers:
            body = self._read_sized(headers["content-length"], deadline_ms, body_max)
        else:
            body = self._read_until_close(deadline_ms, body_max)
            keep_open = False
        return Response(status, headers, body), keep_open

    def _read_headers(self, deadline_ms):
        headers = {}
        for _ in range(_HEADERS_MAX):
            line = self._readline(deadline_ms)
            if line in (b"\r\n", b"\n"):
                return headers
            if not line.endswith(b"\n"):
                raise HttpError("protocol", "a header line is over %d bytes" % _LINE_MAX)
            name, colon, value = line.partition(b":")
            if not colon:
                raise HttpError("protocol", "a header line has no colon")
            name = name.strip().lower().decode()
            if name in _KEPT_HEADERS:
                headers[name] = value.strip().decode()
        raise HttpError("protocol", "more than %d header lines" % _HEADERS_MAX)

    def _read_sized(self, length_text, deadline_ms, body_max):
        try:
            length = int(length_text)
        except ValueError:
            raise HttpError("protocol", "Content-Length is not a number")
        if length < 0 or length > body_max:
            raise HttpError("too_large", "reply body of %d bytes, over %d" % (length, body_max))
        body = bytearray(length)
        self._read_into(memoryview(body), deadline_ms)
        return body

    def _read_into(self, view, deadline_ms):
        got = 0
        while got < len(view):
            self._set_timeout(deadline_ms)
            try:
                n = self._stream.readinto(view[got:])
            except OSError as e:
                raise HttpError(_timeout_or(e, "closed"), "reading the body: " + _describe(e))
            if not n:
                raise HttpError("closed", "the reply ended after %d bytes of body" % got)
            got += n

    def _read_chunked(self, deadline_ms, body_max):
        parts = []
        total = 0
        while True:
            line = self._readline(deadline_ms, _CHUNK_SIZE_LINE_MAX)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                size = -1
            if size < 0 or not line.endswith(b"\n"):
                raise HttpError("protocol", "a chunk size line is not hexadecimal")
            if size == 0:
                break
            total += size
            if total > body_max:
                raise HttpError("too_large", "chunked reply body over %d bytes" % body_max)
            chunk = bytearray(size)
            self._read_into(memoryview(chunk), deadline_ms)
            parts.append(chunk)
            if self._readline(deadline_ms) not in (b"\r\n", b"\n"):
                raise HttpError("protocol", "chunk data longer than its size")
        while self._readline(deadline_ms) not in (b"\r\n", b"\n"):
            pass  # trailer fields (RFC 9112 §7.1.2) are not used
        return b"".join(parts)

    def _read_until_close(self, deadline_ms, body_max):
        parts = []
        total = 0
        while True:
            self._set_timeout(deadline_ms)
            try:
                data = self._stream.read(_READ_SIZE)
            except OSError as e:
                raise HttpError(_timeout_or(e, "closed"), "reading the body: " + _describe(e))
            if not data:
                return b"".join(parts)
            total += len(data)
            if total > body_max:
                raise HttpError("too_large", "reply body over %d bytes" % body_max)
            parts.append(data)

    def _hint_clock(self, date):
        # NTP outranks a Date header; a Date header corrects an RTC that drifted in deep sleep.
        if date is None or self.clock.wall_source not in (None, "http-date", "rtc"):
            return
        unix_s = parse_http_date(date)
        now = self.clock.wall_time()
        if unix_s is not None and (now is None or abs(now - unix_s) > _DATE_TOLERANCE_S):
            self.clock.set_wall_time(unix_s, "http-date")


class _BodyStream(io.IOBase):
    """A stream that counts what is written to it and, given a session, sends it in records of
    `_SEND_BUFFER` bytes (json.dump writes a few bytes at a time; each write would otherwise
    be a TLS record of its own)."""

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
        buffer = self.session._send_buffer
        done = 0
        while done < len(view):
            take = min(len(view) - done, _SEND_BUFFER - self._used)
            buffer[self._used : self._used + take] = view[done : done + take]
            self._used += take
            done += take
            if self._used == _SEND_BUFFER:
                self.flush()
        return len(view)

    def flush(self):
        if self._used and self.session is not None:
            self.session._write(
                memoryview(self.session._send_buffer)[: self._used], self.deadline_ms
            )
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


def _tls_context(ca_der, insecure_tls):
    context = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    if insecure_tls:
        context.verify_mode = tls.CERT_NONE  # pyright: ignore[reportAttributeAccessIssue]
        return context
    if not ca_der:
        raise LinkError("no CA certificate: TLS needs cloud.ca (a DER file)", False)
    context.verify_mode = tls.CERT_REQUIRED  # pyright: ignore[reportAttributeAccessIssue]
    context.load_verify_locations(ca_der)
    return context


def _parse_status(line):
    # "HTTP/1.1 200 OK": anything else is not an HTTP/1.x reply.
    if not line.startswith(b"HTTP/1.") or len(line) < 12 or line[8] != 32:
        raise HttpError("protocol", "the reply is not HTTP")
    if not line.endswith(b"\n"):
        raise HttpError("protocol", "the status line is over %d bytes" % _LINE_MAX)
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


def _timeout_or(error, kind):
    return "timeout" if error.errno in (_ETIMEDOUT, _EAGAIN) else kind


def _describe(error):
    if isinstance(error, OSError) and error.args and isinstance(error.args[0], int):
        return "OSError %d" % error.args[0]
    return _first_line(error)


def _first_line(error):
    text = str(error).strip()
    return text.split("\n", 1)[0] or type(error).__name__
