# Fakes for the cloud-link device tests: a scripted `socket` module and a scripted HTTP session.
import io

from tempnode.http import Response


class FakeNet:
    """Stands in for the `socket` module: each new connection plays the next script.

    A script is a list of steps the server sends, in order: bytes, or an exception the next
    read raises (e.g. OSError(110), a stall). A script that is an exception fails the connect.
    """

    AF_INET = 2
    SOCK_STREAM = 1

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


class FakeSocket:
    def __init__(self, script):
        self.script = script
        self.steps = [] if isinstance(script, Exception) else list(script)
        self.pending = b""
        self.sent = bytearray()
        self.closed = False
        self.timeouts = []
        self.writes = []
        self.options = None

    def settimeout(self, seconds):
        self.timeouts.append(seconds)

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

    def _more(self):
        while not self.pending and self.steps:
            step = self.steps.pop(0)
            if isinstance(step, Exception):
                raise step
            self.pending = step
        return bool(self.pending)

    def readline(self, limit):
        out = bytearray()
        while len(out) < limit and self._more():
            end = self.pending.find(b"\n")
            take = min(limit - len(out), len(self.pending) if end < 0 else end + 1)
            out.extend(self.pending[:take])
            self.pending = self.pending[take:]
            if out.endswith(b"\n"):
                break
        return bytes(out)

    def readinto(self, view):
        if not self._more():
            return 0
        n = min(len(view), len(self.pending))
        view[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def read(self, size):
        if not self._more():
            return b""
        data = self.pending[:size]
        self.pending = self.pending[size:]
        return data

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

    def request(self, method, path, body, deadline_ms, headers=None):
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
    import json

    return Response(status, headers or {}, json.dumps(obj).encode())
