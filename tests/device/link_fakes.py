# Fakes for the cloud-link device tests: a scripted `socket` module and a scripted HTTP session.
import io
import time

from tempnode.http import Response


class FakeNet:
    """Stands in for the `socket` and `select` modules: each new connection plays the next script.

    A script is a list of steps the server sends, in order: bytes, `STALL` (nothing more ever
    arrives: reads would block, a poll waits out its timeout), a `Drip` (bytes that arrive one
    at a time), `Pieces` (bytes made as they are sent, so a huge reply never sits in the test's
    own heap), or an exception the next read raises (e.g. OSError(104), a reset). A script
    that is an exception fails the connect.
    """

    AF_INET = 2
    SOCK_STREAM = 1
    POLLIN = 1
    POLLOUT = 4

    def __init__(self, *scripts):
        self.scripts = list(scripts)
        self.sockets = []
        self.lookups = 0

    def getaddrinfo(self, host, port, family=0, kind=0):
        self.lookups += 1
        return [(2, 1, 0, "", ("127.0.0.1", port))]

    def socket(self, *args):
        sock = FakeSocket(self.scripts.pop(0))
        self.sockets.append(sock)
        return sock

    def poll(self):
        return FakePoller()


class _Stall:
    pass


STALL = _Stall()


class Drip:
    """`data` arriving one byte every `every_ms` (real time)."""

    def __init__(self, data, every_ms):
        self.data = data
        self.every_ms = every_ms
        self.next_ms = None

    def due_in_ms(self):
        now = time.ticks_ms()
        if self.next_ms is None:
            self.next_ms = time.ticks_add(now, self.every_ms)
        return max(0, time.ticks_diff(self.next_ms, now))

    def take(self):
        self.next_ms = time.ticks_add(self.next_ms, self.every_ms)
        byte, self.data = self.data[:1], self.data[1:]
        return byte


class Pieces:
    """`count` pieces of a reply, piece i being `make(i)`, made only when it is sent."""

    def __init__(self, make, count):
        self.make = make
        self.count = count
        self.sent = 0

    def take(self):
        self.sent += 1
        return self.make(self.sent - 1)


class FakePoller:
    def __init__(self):
        self.sock = None

    def register(self, sock, events=1):
        self.sock = sock

    def modify(self, sock, events):
        self.sock = sock

    def poll(self, timeout_ms):
        self.sock.polls.append(timeout_ms)
        wait = self.sock.ready_in_ms()
        if wait is None or wait > timeout_ms:
            time.sleep_ms(timeout_ms)
            return []
        time.sleep_ms(wait)
        return [(self.sock, 1)]


class FakeSocket:
    def __init__(self, script):
        self.script = script
        self.steps = [] if isinstance(script, Exception) else list(script)
        self.pending = b""
        self.sent = bytearray()
        self.closed = False
        self.timeouts = []
        self.polls = []
        self.writes = []
        self.options = None
        self.blocking = True

    def settimeout(self, seconds):
        self.timeouts.append(seconds)

    def setblocking(self, flag):
        self.blocking = flag

    def setsockopt(self, level, option, value):
        self.options = (level, option, value)

    def connect(self, address):
        if isinstance(self.script, Exception):
            raise self.script

    def write(self, data):
        if self.closed:
            raise OSError(9)
        self.sent.extend(data)
        self.writes.append(len(data))
        return len(data)

    def ready_in_ms(self):
        """0 when a read would return now, the wait for a dripping byte, None for never."""
        if self.pending or not self.steps:
            return 0
        step = self.steps[0]
        if step is STALL:
            return None
        return step.due_in_ms() if isinstance(step, Drip) else 0

    def _more(self):
        """True when bytes are pending, False at the end, None when a read would block."""
        while not self.pending and self.steps:
            step = self.steps[0]
            if step is STALL:
                return None
            if isinstance(step, Pieces):
                if step.sent == step.count:
                    self.steps.pop(0)
                    continue
                self.pending = step.take()
                return True
            if isinstance(step, Drip):
                if not step.data:
                    self.steps.pop(0)
                    continue
                if step.due_in_ms():
                    return None
                self.pending = step.take()
                return True
            self.steps.pop(0)
            if isinstance(step, Exception):
                raise step
            self.pending = step
        return bool(self.pending)

    def readinto(self, view):
        more = self._more()
        if more is None:
            return None
        if not more:
            return 0
        n = min(len(view), len(self.pending))
        view[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def close(self):
        self.closed = True


def reply(status=200, body=b"", headers=None):
    """HTTP/1.1 reply bytes with a Content-Length."""
    head = "HTTP/1.1 %d X\r\nContent-Length: %d\r\n" % (status, len(body))
    for name in headers or ():
        head += "%s: %s\r\n" % (name, headers[name])
    return head.encode() + b"\r\n" + body


class FakeSession:
    """Stands in for `http.Session`: answers each request with the next scripted step.

    A step is a Response, an exception to raise, or a function (method, path, body, headers)
    returning either. Every request is recorded in `sent` as (method, path, body, headers).
    """

    def __init__(self, *steps):
        self.steps = list(steps)
        self.sent = []
        self.connections = 0
        self.closed = 0

    def request(self, method, path, body, deadline_ms, headers=None, fields=(), into=None):
        self.sent.append((method, path, body_bytes(body), dict(headers or {})))
        step = self.steps.pop(0)
        if callable(step) and not isinstance(step, Response):
            step = step(method, path, body, headers)
        if isinstance(step, Exception):
            raise step
        return step

    def close(self):
        self.closed += 1


class _Collect(io.IOBase):
    def __init__(self):
        self.data = bytearray()

    def write(self, data):
        self.data.extend(data)
        return len(data)


def body_bytes(body):
    """The bytes a request body puts on the wire (bytes-like, str, None or streamed)."""
    if body is None:
        return b""
    if hasattr(body, "write_to"):
        out = _Collect()
        body.write_to(out)
        assert len(out.data) == len(body), "a streamed body's size must match what it writes"
        return bytes(out.data)
    return bytes(memoryview(body))


def json_reply(status, obj, headers=None):
    """A Response whose body was the JSON `obj` (its fields, as the session picks them)."""
    return Response(status, headers or {}, obj if isinstance(obj, dict) else None)
