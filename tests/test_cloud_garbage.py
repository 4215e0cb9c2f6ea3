"""Garbage in never gives a 500, a traceback or a changed store: wrong content types, broken
JSON, a 10 MB body, unknown grants, bytes that are not HTTP, and random bodies on every route."""

import logging
import random
import socket
import ssl

import pytest

from host_tools.cloud.app import build_routes

TEN_MB = b"x" * (10 * 1024 * 1024)


@pytest.fixture
def web(dev_cloud):
    return dev_cloud.session()


@pytest.fixture
def no_tracebacks(caplog):
    caplog.set_level(logging.DEBUG, logger="tempnode.cloud")
    yield
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]


@pytest.fixture
def device(dev_cloud):
    return dev_cloud.admin.create_device("logger-01", "oauth2")


@pytest.mark.parametrize(
    "path, content_type, body, status",
    [
        ("/oauth/token", "application/json", b'{"grant_type": "client_credentials"}', 400),
        ("/oauth/token", "text/plain", b"grant_type=client_credentials", 400),
        ("/oauth/token", "application/x-www-form-urlencoded", b"grant_type=magic", 400),
        ("/oauth/token", "application/x-www-form-urlencoded", b"\xff\xfe\x00", 400),
        (
            "/oauth/token",
            "application/x-www-form-urlencoded",
            b"grant_type=password&grant_type=refresh_token",
            400,
        ),
        ("/oauth/token", "application/x-www-form-urlencoded", b"%%%&&&===", 400),
        ("/auth/token", "application/json", b'{"appId": ', 400),
        ("/auth/token", "application/json", b'{"appId": 5, "refreshToken": []}', 400),
        ("/auth/token", "application/x-www-form-urlencoded", b"appId=a", 415),
        ("/tempnode/sandbox/token", "application/json", b"[]", 400),
        (
            "/tempnode/sandbox/token",
            "application/json",
            b'{"grant_type": "client_credentials", "ttl": "forever"}',
            400,
        ),
        ("/oauth/device_authorization", "application/x-www-form-urlencoded", b"client_id=", 401),
        ("/oauth/revoke", "application/json", b"{}", 400),
        ("/oauth/introspect", "application/x-www-form-urlencoded", b"token=x", 401),
        ("/admin/devices", "application/json", b'{"device_id": "x"}', 401),
        ("/device", "application/x-www-form-urlencoded", b"user_code=\x00", 400),
    ],
)
def test_garbage_gets_a_4xx_with_a_json_error(
    dev_cloud, web, no_tracebacks, path, content_type, body, status
):
    reply = web.post(dev_cloud.url(path), data=body, headers={"Content-Type": content_type})
    assert reply.status_code == status, reply.text
    if reply.headers["Content-Type"] == "application/json":
        reply_body = reply.json()
        assert "error" in reply_body or "err" in reply_body


def test_unknown_paths_and_methods(dev_cloud, web, no_tracebacks):
    assert web.get(dev_cloud.url("/nope")).status_code == 404
    assert web.get(dev_cloud.url("/oauth/token")).status_code == 405
    assert web.delete(dev_cloud.url("/api/v1/readings")).status_code == 405


def test_a_body_sent_to_an_unknown_path_does_not_become_the_next_request(dev_cloud, no_tracebacks):
    # The unread body of a refused request must not be parsed as a request of its own on a
    # keep-alive connection (RFC 9112 9.6: the server closes the connection instead).
    smuggled = b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
    request = b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(smuggled)
    reply = raw_exchange(dev_cloud, request + smuggled)
    assert reply.startswith(b"HTTP/1.1 404") and reply.count(b"HTTP/1.1 ") == 1


@pytest.mark.parametrize("path", ["/oauth/token", "/api/v1/readings", "/admin/devices"])
def test_a_10_mb_body_gets_413_and_changes_nothing(dev_cloud, web, device, no_tracebacks, path):
    reply = web.post(
        dev_cloud.url(path),
        data=TEN_MB,
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {device['credential']['access_token']}",
        },
    )
    assert reply.status_code == 413
    assert "10485760" in reply.json()["error_description"]
    assert dev_cloud.admin.readings("logger-01") == []
    assert len(dev_cloud.admin.devices()) == 1


def test_chunked_and_bad_content_length(dev_cloud, web, no_tracebacks):
    chunked = web.post(
        dev_cloud.url("/oauth/token"),
        data=iter([b"grant_type=", b"x"]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert chunked.status_code == 400 and chunked.json()["error"] == "unsupported_grant_type"
    endless = web.post(
        dev_cloud.url("/oauth/token"),
        data=iter([b"x" * 65536] * 20),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert endless.status_code == 413
    reply = raw_exchange(
        dev_cloud, b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"
    )
    assert reply.startswith(b"HTTP/1.1 400")


def raw_exchange(dev_cloud, data):
    """Send bytes over TLS as they are; return what comes back until the server closes."""
    context = ssl.create_default_context(cafile=str(dev_cloud.ca_pem_path))
    port = int(dev_cloud.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(data)
            received = b""
            while chunk := tls.recv(65536):
                received += chunk
                if len(received) > 1 << 20:
                    break
    return received


def test_bytes_that_are_not_http(dev_cloud, no_tracebacks):
    reply = raw_exchange(dev_cloud, b"\x16\x03\x01 GARBAGE GARBAGE\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"Traceback" not in reply


def test_a_client_that_speaks_no_tls_is_dropped(dev_cloud, no_tracebacks):
    port = int(dev_cloud.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            answer = raw.recv(100)
        except ConnectionResetError:
            answer = b""
    assert answer == b""  # no plain-HTTP answer from the HTTPS port


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic !!!", "Bearer a b c", "bearer x", "Token abc", "Bearer \u00e9"],
)
def test_odd_authorization_headers(dev_cloud, web, no_tracebacks, header):
    reply = web.post(
        dev_cloud.url("/api/v1/readings"),
        json={"device": "x", "readings": []},
        headers={"Authorization": header.encode("utf-8")},
    )
    assert reply.status_code in (400, 401)


def test_random_bodies_on_every_route_never_break_the_server(
    dev_cloud, web, device, no_tracebacks
):
    rng = random.Random(4)
    paths = {
        r.pattern.pattern.replace("(?P<org>[^/]+)", "tempnode")
        .replace("(?P<app>[^/]+)", "sandbox")
        .replace("(?P<device_id>[^/]+)", "logger-01")
        .replace("(?P<fault_id>[^/]+)", "1")
        .replace("(?P<app_id>[^/]+)", "logger-01")
        .replace("(?P<challenge>[^/]+)", "c" * 43)
        .replace("(?P<board>[^/]+)", "host")
        .replace("(?P<channel>[^/]+)", "stable")
        .replace("(?P<version>[^/]+)", "0.1.0+0000000000")
        .replace("(?P<index>[^/]+)", "0")
        .replace("\\Z", "")
        .replace("\\", ""): r.method
        for r in build_routes()
    }
    samples = [
        b"",
        b"{}",
        b"[]",
        b"null",
        b'{"a":',
        b"\x00\xff" * 20,
        b"a=b&c",
        b"=&=&",
        b'{"readings": [null, 1, "x"]}',
        b'{"device": "logger-01", "readings": [{}]}',
        b'{"ttl": 1e999, "grant_type": "client_credentials"}',
    ]
    content_types = ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
    auth = [
        {},
        {"Authorization": "Bearer " + device["credential"]["access_token"]},
        {"Authorization": "Bearer " + dev_cloud.running.cloud.admin_key},
    ]
    statuses = set()
    for _ in range(250):
        path, method = rng.choice(sorted(paths.items()))
        body = rng.choice(samples + [bytes(rng.getrandbits(8) for _ in range(rng.randrange(64)))])
        headers = {"Content-Type": rng.choice(content_types), **rng.choice(auth)}
        reply = web.request(method, dev_cloud.url(path), data=body, headers=headers, timeout=10)
        assert reply.status_code < 500, (method, path, body, reply.text)
        statuses.add(reply.status_code)
    assert {200, 400, 401} <= statuses


@pytest.mark.parametrize(
    "path, body",
    [
        ("/admin/clock", b'{"offset_s": Infinity}'),
        ("/admin/clock", b'{"offset_s": NaN}'),
        ("/admin/lifetimes", b'{"access_ttl_s": 1e999}'),
        ("/admin/devices", b'{"device_id": "x", "access_ttl_s": -1}'),
        ("/admin/devices", b'{"device_id": "../etc", "profile": "oauth2"}'),
        ("/admin/devices", b'{"device_id": "x", "profile": "aws"}'),
        ("/admin/faults", b'{"kind": "reset", "count": 1e999}'),
        ("/admin/device_codes", b'{"user_code": 5}'),
    ],
)
def test_admin_input_that_would_break_the_clock_or_store_is_refused(
    dev_cloud, web, no_tracebacks, path, body
):
    key = dev_cloud.running.cloud.admin_key
    reply = web.post(
        dev_cloud.url(path),
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    assert reply.status_code == 400, reply.text
    assert dev_cloud.admin.clock()["offset_s"] == 0
