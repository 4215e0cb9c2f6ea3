"""`socket` on the simulated board: the unix port's sockets, cut off while the Wi-Fi link is.

What a packet meets is `sim_wifi.link_up()`. With the link down:
- the station has no address: `connect`, `send` and `recv` fail at once with EHOSTUNREACH, and
  name lookups with OSError(-202) (as lwIP does without a route / esp32's EAI_FAIL);
- the station thinks it is connected but the air is down (an outage it has not noticed yet):
  each operation waits out the socket's timeout in virtual time, then raises ETIMEDOUT (a
  blocking socket waits `_BLOCKING_STALL_MS`, so a watchdog fires first); a name lookup waits
  `_DNS_STALL_MS`. Datagrams sent are lost. A TCP connection that met an outage stays broken.
Numeric addresses need no lookup and always resolve.

A `socket` is an `io.IOBase` stream, so `tls.SSLContext.wrap_socket` works over it: mbedTLS
reads and writes through `readinto`/`write`, and `select.poll` uses the real descriptor.
"""

import errno
import io
import time

import sim_wifi
import usocket
from micropython import const
from usocket import *  # noqa: F403 - constants and everything else the port's socket has

_BLOCKING_STALL_MS = const(60000)  # a blocking connect or read across a dead link
_DNS_STALL_MS = const(5000)
_EAI_FAIL = const(-202)
# Stream ioctl requests (py/stream.h).
_STREAM_POLL = const(3)
_STREAM_CLOSE = const(4)
_STREAM_GET_FILENO = const(10)


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    if not sim_wifi.link_up() and not _numeric(host):
        _fail_lookup()
    return usocket.getaddrinfo(host, port, af, type, proto, flags)


def _sockaddr(address):
    """The unix port wants what getaddrinfo returns; esp32 also takes (host, port)."""
    if isinstance(address, tuple):
        return usocket.getaddrinfo(address[0], address[1])[0][-1]
    return address


def _numeric(host):
    try:
        usocket.inet_pton(usocket.AF_INET, host)
        return True
    except (OSError, ValueError):
        return False


def _fail_lookup():
    if sim_wifi.station.has_ip():
        time.sleep_ms(_DNS_STALL_MS)
    raise OSError(_EAI_FAIL)


def _through_the_link(name):
    """The port socket's method `name`, for a packet that must first get through the link."""

    def method(self, *args):
        self._check_link()
        return getattr(self._sock, name)(*args)

    return method


class socket(io.IOBase):
    def __init__(self, af=usocket.AF_INET, type=usocket.SOCK_STREAM, proto=0, *, _wrapped=None):
        self._sock = _wrapped if _wrapped is not None else usocket.socket(af, type, proto)
        self._stream = type == usocket.SOCK_STREAM
        self._timeout_ms = None
        self._broken = False

    # -- what an outage does

    def _check_link(self, connecting=False):
        if self._broken or not sim_wifi.link_up():
            self._fail(connecting)

    def _fail(self, connecting):
        if not sim_wifi.station.has_ip() and sim_wifi.simulated():
            raise OSError(errno.EHOSTUNREACH)
        if self._timeout_ms == 0:
            raise OSError(errno.EINPROGRESS if connecting else errno.EAGAIN)
        self._broken = self._stream
        time.sleep_ms(_BLOCKING_STALL_MS if self._timeout_ms is None else self._timeout_ms)
        raise OSError(errno.ETIMEDOUT)

    # -- the socket API

    def settimeout(self, value):
        self._timeout_ms = None if value is None else int(value * 1000)
        self._sock.settimeout(value)

    def setblocking(self, flag):
        self.settimeout(None if flag else 0)

    def connect(self, address):
        self._check_link(connecting=True)
        self._sock.connect(_sockaddr(address))

    send = _through_the_link("send")
    sendall = _through_the_link("sendall")
    write = _through_the_link("write")
    recv = _through_the_link("recv")
    recvfrom = _through_the_link("recvfrom")
    read = _through_the_link("read")
    readinto = _through_the_link("readinto")
    readline = _through_the_link("readline")

    def sendto(self, data, address):
        if not sim_wifi.link_up():
            return len(data)  # a datagram into a dead link is lost without a word
        return self._sock.sendto(data, _sockaddr(address))

    def bind(self, address):
        self._sock.bind(_sockaddr(address))

    def accept(self):
        sock, address = self._sock.accept()
        return socket(_wrapped=sock), address

    def makefile(self, mode="rb", buffering=0):
        return self

    def close(self):
        self._sock.close()

    def __getattr__(self, name):  # listen, setsockopt, fileno, ...
        if name == "_sock":  # not set yet: the port refused to make the socket
            raise AttributeError(name)
        return getattr(self._sock, name)

    def ioctl(self, request, arg):
        """The stream protocol, for tls and select."""
        if request == _STREAM_GET_FILENO:
            return self._sock.fileno()
        if request == _STREAM_CLOSE:
            self._sock.close()
            return 0
        if request == _STREAM_POLL:
            return _poll(self._sock, arg)
        return -errno.EINVAL

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _poll(sock, events):
    import uselect as select

    poller = select.poll()
    poller.register(sock, events)
    ready = poller.poll(0)
    return ready[0][1] if ready else 0
