"""The dev cloud's HTTP(S) server: stdlib `http.server`, one thread per connection, keep-alive.

Built on the standard library rather than a web framework because faults need the socket
itself: a TCP reset before the reply, a reply dropped after the request was processed, a body
cut off mid-way. The TLS handshake runs in the connection's thread, so a client that stalls
it blocks nobody else. The log names method, path, status and time only: never a header, a
query string or a body, so no token or secret reaches it.
"""

import logging
import socket
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .faults import DEFAULT_HUGE, KINDS
from .web import HttpError, Request, Response, encode_json, json_response, match

log = logging.getLogger("tempnode.cloud")
# authlib logs issued tokens at DEBUG ("Issue token %r"): keep it quiet whatever the root level.
logging.getLogger("authlib").setLevel(logging.WARNING)

HANDSHAKE_TIMEOUT_S = 10
IDLE_TIMEOUT_S = 30
# A body over a route's limit is read and thrown away up to this size, so the client gets to
# read the 413 instead of a broken pipe; beyond it the connection is closed after the reply.
DISCARD_MAX = 16 * 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # so even a garbage request line gets a status line
    server_version = "tempnode-devcloud/1"
    timeout = IDLE_TIMEOUT_S
    error_content_type = "application/json"
    error_message_format = '{"error": "invalid_request", "error_description": "%(explain)s"}'

    @property
    def cloud(self):
        return self.server.cloud

    def version_string(self):
        return self.server_version

    def date_time_string(self, timestamp=None):
        return self.cloud.clock.http_date(timestamp)

    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), format % args)

    def log_request(self, code="-", size="-"):
        pass  # one line per request is written by `_handle` with its timing

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _handle(self):
        started = time.monotonic()
        url = urlsplit(self.path)
        found, params = match(self.cloud.routes, self.command, url.path)
        if found is None:
            status = 405 if params else 404
            what = "method not allowed here" if params else "no such path"
            # Its body is not read, so the connection must not carry another request
            # (RFC 9112 9.6).
            self.close_connection = True
            self._send(json_response(status, {"error": "not_found", "error_description": what}))
            return
        body = self._read_body(found.body_limit)
        if body is None:
            return
        request = Request(self.command, url.path, parse_qs(url.query), self.headers, body, params)
        fault = (
            self.cloud.faults.take(found.endpoint, self.cloud.clock.now())
            if found.endpoint
            else None
        )
        status = FAULT_ACTIONS[fault.kind](self, fault, found, request) if fault else None
        if status is None:
            status = self._send(self._process(found, request))
        log.info(
            "%s %s -> %s%s (%.1f ms)",
            self.command,
            url.path,
            status,
            f" [fault {fault.kind}]" if fault else "",
            (time.monotonic() - started) * 1000,
        )

    def _process(self, found, request):
        try:
            return found.handler(self.cloud, request)
        except HttpError as error:
            # The description names a field or a limit, never a value a client sent.
            log.info("%s %s refused: %s", request.method, request.path, error)
            return json_response(error.status, error.body, error.headers)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return json_response(500, {"error": "server_error"})

    def _read_body(self, limit):
        """The request body, or None when the reply (413/400) was sent instead."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError
        except ValueError:
            return self._refuse(400, "Content-Length is not a byte count.")
        if length > limit:
            if length <= DISCARD_MAX:
                self._discard(length)
            return self._refuse(413, f"The body is {length} bytes; this endpoint takes {limit}.")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self, limit):
        """A chunked body (RFC 9112 §7.1). Past `limit` it is read on and thrown away (up to
        DISCARD_MAX) so the client gets to read the 413."""
        body, total = [], 0
        try:
            while True:
                size = int(self.rfile.readline(100).split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline(1000).strip():
                        pass  # trailer fields
                    break
                total += size
                if total > DISCARD_MAX:
                    break
                chunk = self.rfile.read(size)
                if total <= limit:
                    body.append(chunk)
                self.rfile.readline(3)
        except ValueError:
            return self._refuse(400, "The chunked body is malformed.")
        if total > limit:
            return self._refuse(413, f"The body is over {limit} bytes.")
        return b"".join(body)

    def _refuse(self, status, description):
        self.close_connection = True
        self._send(_error(status, description))
        return None

    def _discard(self, length):
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)

    def _send(self, response, head_only=False):
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and not head_only:
            self.wfile.write(response.body)
        return response.status

    # --- faults -------------------------------------------------------------------------------

    def _fault_reply(self, fault, found, request):
        if fault.kind == "rate_limit":
            return self._send(_rate_limited(self.cloud.clock, fault))
        status = fault.param("status")
        error = "server_error" if status == 500 else "temporarily_unavailable"
        return self._send(json_response(status, {"error": error}))

    def _reset(self, fault, found, request):
        # SO_LINGER with a zero timeout makes close() send a TCP RST instead of a FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._abandon()
        return "reset"

    def _latency(self, fault, found, request):
        time.sleep(fault.param("delay_ms") / 1000)
        return None

    def _drop_reply(self, fault, found, request):
        self._process(found, request)
        self._abandon()
        return "dropped"

    def _truncate(self, fault, found, request):
        response = self._process(found, request)
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body[: len(response.body) // 2])
        self.wfile.flush()
        self._abandon()
        return "truncated"

    def _malformed(self, fault, found, request):
        response = self._process(found, request)
        broken = response.body[: max(1, len(response.body) - 3)] + b"<!-- not JSON"
        headers = [h for h in response.headers if h[0].lower() != "content-type"]
        self._send(Response(200, broken, [("Content-Type", "application/json"), *headers]))
        return "malformed"

    def _huge_body(self, fault, found, request):
        size = fault.params.get("size_bytes", DEFAULT_HUGE)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        chunk = b'{"pad":"' + b"x" * 65520
        try:
            while size > 0:
                self.wfile.write(chunk[:size])
                size -= len(chunk)
        except OSError:
            self.close_connection = True
        return "huge"

    def _abandon(self):
        """Close the connection now, without another byte from us."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.close()
        except OSError:
            pass

    def finish(self):
        try:
            super().finish()
        except (OSError, ValueError):
            pass  # the connection was abandoned on purpose or by the client


FAULT_ACTIONS = {
    "status": Handler._fault_reply,
    "rate_limit": Handler._fault_reply,
    "latency": Handler._latency,
    "reset": Handler._reset,
    "drop_reply": Handler._drop_reply,
    "truncate": Handler._truncate,
    "malformed": Handler._malformed,
    "huge_body": Handler._huge_body,
}
assert FAULT_ACTIONS.keys() == KINDS.keys()


def _error(status, description):
    return Response(
        status,
        encode_json({"error": "invalid_request", "error_description": description}),
        [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
    )


def _rate_limited(clock, fault):
    """429 with Retry-After (RFC 9110 §10.2.3) as delay-seconds or as an HTTP-date."""
    seconds = fault.param("retry_after_s")
    if fault.param("retry_after_form") == "date":
        retry_after = clock.http_date(clock.now() + seconds)
    else:
        retry_after = str(seconds)
    return json_response(
        429,
        {"error": "rate_limited", "error_description": "Too many requests."},
        [("Retry-After", retry_after)],
    )


class CloudHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address, cloud_factory, tls_context=None):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.tls_context = tls_context
        self.cloud = cloud_factory(self.server_address[1])

    def finish_request(self, request, client_address):
        # Headers and body leave in separate writes; without TCP_NODELAY the second waits for
        # the client's delayed ACK (~40 ms on Linux) and every request takes that long.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls_context is None:
            self.RequestHandlerClass(request, client_address, self)
            return
        request.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            tls_socket = self.tls_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            self.RequestHandlerClass(tls_socket, client_address, self)
        finally:
            tls_socket.close()

    def handle_error(self, request, client_address):
        log.debug("connection from %s ended with an error", client_address[0], exc_info=True)


def serve_in_thread(server):
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="tempnode-cloud", daemon=True
    )
    thread.start()
    return thread
