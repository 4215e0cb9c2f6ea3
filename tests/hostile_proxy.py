"""A hostile TLS proxy in front of the dev cloud: the tests' own bad server for the cloud link.

    proxy = HostileProxy(dev_cloud_info, cert, key)
    proxy.rules = [Rule("token", "redirect", from_s=0, to_s=1200)]   # virtual seconds from t0
    proxy.t0_s = proxy.now_s()
    ... the simulated board talks to proxy.base_url ...
    proxy.log    # one Exchange per request: when, endpoint, mode, status, how long it took

Without a matching rule a request is relayed to the dev cloud and its reply relayed back, so a
device works normally through the proxy (real tokens, real ingest). A rule replaces the reply
by what proxies, captive portals and half-dead clouds send (the mode names below), while its
window (in the simulated board's virtual time, read from the shared clock file as the dev cloud
reads it) lasts. Modes that answer without asking the cloud: the cloud never saw the request.

- `huge_chunked`: the cloud's JSON reply with a 16 KB `id_token` field in front (as an OpenID
  server sends), chunked in 4 KB chunks. Legal: the device must take it.
- `tiny_chunks`: the same, in one-byte chunks (about 100 KB of framing). Legal too.
- `error_page`: 502 with a 16 KB HTML page (a proxy's error page).
- `drip_body`: 200, a 500-byte body at one byte a second (under any size cap, over any
  deadline).
- `drip_headers`: the status line and headers at two bytes a second.
- `stall`: the request is read, nothing ever comes back.
- `redirect`: 302 to a sign-in page (a captive portal).
- `status_<code>`: that status with a small HTML page and no OAuth error (e.g. `status_403`).
"""

import http.client
import json
import select
import ssl
import threading
import time
from dataclasses import dataclass

from link_servers import LoopbackTlsServer

from host_tools.cloud.clock import ServerClock

ENDPOINTS = {
    "/oauth/token": "token",
    "/oauth/device_authorization": "device",
    "/api/v1/readings": "ingest",
}
PADDING = 16000
PAGE = b"<html><body>" + b"<p>The gateway did not get a response.</p>" * 380 + b"</body></html>"
PORTAL = "http://portal.example/login?next=cloud"


@dataclass
class Rule:
    endpoint: str  # one of ENDPOINTS' values, or "any"
    mode: str
    from_s: float = 0
    to_s: float = float("inf")


@dataclass
class Exchange:
    at_s: float  # virtual seconds since t0, when the request had arrived
    endpoint: str
    mode: str  # "pass" when relayed unchanged
    status: int | None  # what the device was sent (None: nothing)
    duration_s: float  # real seconds from the request's arrival to the end of the exchange


class HostileProxy(LoopbackTlsServer):
    def __init__(self, cloud_info, cert, key):
        self.upstream = cloud_info["url"].split("://", 1)[1]
        self.upstream_tls = ssl.create_default_context(cafile=cloud_info["ca_pem"])
        self.clock = ServerClock(cloud_info["vclock"])
        self.rules = []
        self.t0_s = self.now_s()
        self.log = []
        self._lock = threading.Lock()
        super().__init__(cert, key)

    def now_s(self):
        return self.clock.now()

    def exchanges(self, endpoint=None, mode=None):
        with self._lock:
            return [
                e
                for e in self.log
                if (endpoint is None or e.endpoint == endpoint)
                and (mode is None or e.mode == mode)
            ]

    # -- serving

    def _handle(self, raw):
        raw.settimeout(30)
        try:
            conn = self.context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        try:
            reader = conn.makefile("rb")
            while not self.stop.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                if not self._answer(conn, *request):
                    return
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            conn.close()

    def _answer(self, conn, method, path, headers, body):
        """Send the reply; False when the connection must close after it."""
        arrived = time.monotonic()
        at_s = self.now_s() - self.t0_s
        endpoint = ENDPOINTS.get(path.split("?", 1)[0], "other")
        rule = self._rule(endpoint, at_s)
        mode = rule.mode if rule else "pass"
        status = None
        keep = False
        try:
            status, keep = self._reply(conn, mode, method, path, headers, body)
        except (OSError, ssl.SSLError):
            keep = False  # the device gave up (its deadline) and closed
        finally:
            with self._lock:
                self.log.append(Exchange(at_s, endpoint, mode, status, time.monotonic() - arrived))
        return keep

    def _rule(self, endpoint, at_s):
        for rule in self.rules:
            if rule.endpoint in ("any", endpoint) and rule.from_s <= at_s < rule.to_s:
                return rule
        return None

    def _reply(self, conn, mode, method, path, headers, body):
        if mode in ("pass", "huge_chunked", "tiny_chunks"):
            status, reply_headers, reply = self._relay(method, path, headers, body)
            if mode == "pass":
                _send(conn, status, reply, reply_headers)
                return status, True
            padded = _padded(reply)
            _send_chunked(conn, status, padded, 4096 if mode == "huge_chunked" else 1)
            return status, True
        if mode == "error_page":
            _send(conn, 502, PAGE, {"Content-Type": "text/html"})
            return 502, True
        if mode == "redirect":
            page = b'<html><a href="%s">Sign in</a></html>' % PORTAL.encode()
            _send(conn, 302, page, {"Location": PORTAL, "Content-Type": "text/html"})
            return 302, True
        if mode.startswith("status_"):
            status = int(mode.split("_", 1)[1])
            _send(
                conn, status, b"<html><h1>%d</h1></html>" % status, {"Content-Type": "text/html"}
            )
            return status, True
        if mode == "drip_body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            conn.sendall(b"Content-Length: 500\r\n\r\n")
            _drip(conn, b'{"stored": [' + b" " * 486 + b"]}", 1.0)
            return 200, False
        if mode == "drip_headers":
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n"
            )
            _drip(conn, head + b"{}", 0.5)
            return 200, False
        if mode == "stall":
            _closed_within(conn, 120)
            return None, False
        raise ValueError(f"unknown mode {mode}")

    def _relay(self, method, path, headers, body):
        upstream = http.client.HTTPSConnection(
            self.upstream, context=self.upstream_tls, timeout=10
        )
        try:
            kept = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            upstream.request(method, path, body=body, headers=kept)
            reply = upstream.getresponse()
            data = reply.read()
            reply_headers = {
                k: v
                for k, v in reply.getheaders()
                if k.lower() in ("content-type", "www-authenticate", "retry-after", "date")
            }
            return reply.status, reply_headers, data
        finally:
            upstream.close()


def _read_request(reader):
    line = reader.readline(65536)
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers = {}
    while True:
        line = reader.readline(65536)
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip()] = value.strip()
    length = int(headers.get("Content-Length", "0"))
    return method, path, headers, reader.read(length) if length else b""


def _padded(reply):
    """The reply's JSON object with a big `id_token` first (or the reply itself if not JSON)."""
    try:
        obj = json.loads(reply)
    except ValueError:
        return reply
    if not isinstance(obj, dict):
        return reply
    return json.dumps({"id_token": "i" * PADDING, **obj}).encode()


def _send(conn, status, body, headers):
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    conn.sendall(head.encode() + b"\r\n" + body)


def _send_chunked(conn, status, body, size):
    out = bytearray(f"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n".encode())
    out += b"Content-Type: application/json\r\n\r\n"
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        out += b"%x\r\n%s\r\n" % (len(piece), piece)
    out += b"0\r\n\r\n"
    conn.sendall(bytes(out))


def _drip(conn, data, every_s):
    """Send `data` a byte at a time, one every `every_s`, until the device hangs up."""
    for i in range(len(data)):
        conn.sendall(data[i : i + 1])
        if _closed_within(conn, every_s):
            return


def _closed_within(conn, seconds):
    """Wait up to `seconds`; True as soon as the device closes its end (so the exchange's
    duration is the device's, not the next drip's)."""
    ready, _, _ = select.select([conn], [], [], seconds)
    if not ready:
        return False
    try:
        return not conn.recv(1)
    except (OSError, ssl.SSLError):
        return True
