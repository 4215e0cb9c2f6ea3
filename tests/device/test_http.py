# The HTTP client under MicroPython, on a scripted socket: framing, memory, keep-alive, deadlines.
from devtest import raises
from link_fakes import STALL, Drip, FakeNet, Pieces, reply
from tempnode import http
from tempnode.clock import Clock
from tempnode.http import HttpError, Session

HEAPSIZE = "256k"
URL = "http://cloud.test:8080"
DEADLINE_BOUND_MS = 30  # how far past its deadline a request may end (README, Design notes)


def session(*scripts):
    net = FakeNet(*scripts)
    http.socket = http.select = net
    clock = Clock()
    return Session(URL, clock), net, clock


def body_of(s, clock, size=4096):
    buffer = bytearray(size)
    return bytes(s.request("GET", "/", None, soon(clock), into=buffer).body)


def soon(clock, ms=5000):
    return clock.monotonic_ms() + ms


def test_sized_body_and_headers_in_any_case():
    s, net, clock = session(
        [reply(201, b'{"ok": 1}', {"CONTENT-type": "application/json", "X-Other": "x"})]
    )
    r = s.request("POST", "/api", b"abc", soon(clock), {"Content-Type": "text/plain"}, ("ok",))
    assert r.status == 201
    assert r.json() == {"ok": 1}
    assert r.header("content-type") == "application/json"
    sent = bytes(net.sockets[0].sent)
    assert sent.startswith(b"POST /api HTTP/1.1\r\nHost: cloud.test:8080\r\n"), sent
    assert b"Content-Length: 3\r\n" in sent and sent.endswith(b"\r\n\r\nabc")


class Dribble:
    """A streamed body written ten bytes at a time, as json.dump writes."""

    def __len__(self):
        return 3000

    def write_to(self, stream):
        for n in range(300):
            stream.write(b"%010d" % n)


def test_a_streamed_body_goes_out_in_whole_records_with_its_length():
    s, net, clock = session([reply(200, b"ok")])
    s.request("POST", "/api", Dribble(), soon(clock), {"Content-Type": "application/json"})
    sock = net.sockets[0]
    head, _, body = bytes(sock.sent).partition(b"\r\n\r\n")
    assert b"Content-Length: 3000" in head and body == b"".join(b"%010d" % n for n in range(300))
    # Head and body share 1 KB writes (TLS records): 4 writes, not 301.
    assert sock.writes == [1024, 1024, 1024, len(sock.sent) - 3072], sock.writes


def test_a_small_body_leaves_in_the_same_write_as_the_headers():
    s, net, clock = session([reply(200, b"ok")])
    s.request("POST", "/api", '{"label": "Küche"}', soon(clock))
    sock = net.sockets[0]
    assert len(sock.writes) == 1 and bytes(sock.sent).endswith('{"label": "Küche"}'.encode())
    assert b"Content-Length: 19\r\n" in sock.sent  # UTF-8 bytes, not characters


def test_chunked_body_is_joined_and_the_connection_kept():
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    s, net, clock = session([chunked, reply(200, b"second")])
    assert body_of(s, clock) == b"Wikipedia in \r\n\r\nchunks."
    assert body_of(s, clock) == b"second"
    assert len(net.sockets) == 1


def test_keep_alive_uses_one_connection_and_one_lookup_per_session():
    s, net, clock = session([reply(200, b"1"), reply(200, b"2"), reply(200, b"3")])
    for _ in range(3):
        s.request("POST", "/api", b"x", soon(clock))
    assert (len(net.sockets), net.lookups, s.connections, s.requests) == (1, 1, 1, 3)
    assert net.sockets[0].options == (6, 1, 1)  # TCP_NODELAY: headers and body never wait
    assert not net.sockets[0].closed
    s.close()
    assert net.sockets[0].closed


def test_connection_close_and_http10_replies_are_not_reused():
    s, net, clock = session(
        [reply(200, b"a", {"Connection": "close"})],
        [b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb"],
        [reply(200, b"c")],
    )
    for _ in range(3):
        s.request("GET", "/", None, soon(clock))
    assert len(net.sockets) == 3
    assert net.sockets[0].closed and net.sockets[1].closed and not net.sockets[2].closed


def test_a_keep_alive_connection_the_server_closed_is_retried_once_on_a_new_one():
    s, net, clock = session([reply(200, b"first")], [reply(200, b"again")])
    s.request("POST", "/api", b"x", soon(clock))
    r = s.request("POST", "/api", b"y", soon(clock), into=bytearray(10))  # the first is closed
    assert bytes(r.body) == b"again"
    assert net.sockets[0].closed
    assert bytes(net.sockets[1].sent).endswith(b"y")
    assert net.lookups == 1


def test_a_fresh_connection_that_gets_no_reply_is_an_error_not_a_retry():
    s, net, clock = session([])
    with raises(HttpError) as r:
        s.request("POST", "/api", b"x", soon(clock))
    assert r.value.kind == "closed" and r.value.transient
    assert net.sockets[0].closed and len(net.sockets) == 1


def test_bodies_over_the_cap_are_errors_and_close_the_socket():
    huge = b"HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n"
    chunk = b"400\r\n" + b"x" * 1024 + b"\r\n"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    endless = b"HTTP/1.1 200 OK\r\n\r\n"
    forever = Pieces(lambda i: chunk, 300)
    for script in ([huge], [chunked, forever], [endless, Pieces(lambda i: chunk, 300)]):
        s, net, clock = session(script)
        with raises(HttpError) as r:
            s.request("GET", "/", None, soon(clock))
        assert r.value.kind == "too_large", r.value
        assert net.sockets[0].closed
    s, net, clock = session([reply(200, b"y" * 100)])
    with raises(HttpError) as r:
        body_of(s, clock, size=64)  # more than the caller's buffer
    assert r.value.kind == "too_large" and net.sockets[0].closed


def test_wanted_values_too_long_for_the_arena_are_named_not_decoded():
    body = b'{"error": "invalid_grant", "error_description": "%s"}' % (b"d" * 5000)
    s, net, clock = session([reply(400, body)])
    r = s.request("POST", "/token", b"", soon(clock))
    assert r.json() == {"error": "invalid_grant"}, r.json()


def test_a_drip_under_the_cap_ends_at_the_deadline():
    # 500 bytes of body at one byte per 20 ms would take 10 s; the deadline is 400 ms.
    drips = (
        [b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", Drip(b"x" * 500, 20)],
        [Drip(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 20)],  # headers drip
        [b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nhel", STALL],
        [STALL],
    )
    for script in drips:
        s, net, clock = session(script)
        start = clock.monotonic_ms()
        with raises(HttpError) as r:
            s.request("GET", "/", None, start + 400)
        late = clock.monotonic_ms() - (start + 400)
        assert r.value.kind == "timeout" and "deadline" in str(r.value), r.value
        assert -5 <= late <= DEADLINE_BOUND_MS, late
        assert net.sockets[0].closed
        assert max(net.sockets[0].polls) <= 400


def test_a_silent_server_is_a_timeout_after_the_step_limit_within_a_long_deadline():
    s, net, clock = session([STALL])
    s.step_timeout_ms = 300  # shortened for the test: a server silent for this long
    start = clock.monotonic_ms()
    with raises(HttpError) as r:
        s.request("GET", "/", None, start + 60000)
    assert r.value.kind == "timeout" and "no byte for" in str(r.value), r.value
    assert clock.monotonic_ms() - start < 400


def test_garbage_instead_of_http_is_a_protocol_error():
    noise = b"\x16\x03\x01\x02\x00\x01" * 300  # no line end in the first KB
    for garbage in (b"SSH-2.0-OpenSSH_9.6\r\n", noise):
        s, net, clock = session([garbage])
        with raises(HttpError) as r:
            s.request("GET", "/", None, soon(clock))
        assert r.value.kind == "protocol", r.value
        assert net.sockets[0].closed


def test_over_long_lines_and_bad_chunks_are_protocol_errors():
    cases = (
        (b"HTTP/1.1 200 " + b"O" * 2000 + b"\r\n\r\n", "status line is over"),
        (b"HTTP/1.1 401 X\r\nWWW-Authenticate: " + b"c" * 2000 + b"\r\n\r\n", "header line is"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "not hexadecimal"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "longer than"),
    )
    for script, expected in cases:
        s, net, clock = session([script])
        with raises(HttpError) as r:
            s.request("GET", "/", None, soon(clock))
        assert r.value.kind == "protocol" and expected in str(r.value), r.value
        assert net.sockets[0].closed


def test_long_header_lines_arrive_whole_and_unkept_ones_are_skipped():
    challenge = 'Bearer realm="' + "r" * 600 + '", error="invalid_token"'
    cookie = {"Set-Cookie": "c" * 5000, "WWW-Authenticate": challenge}
    s, net, clock = session([reply(401, b"", cookie), reply(200, b"ok")])
    assert s.request("GET", "/", None, soon(clock)).header("www-authenticate") == challenge
    assert body_of(s, clock) == b"ok"  # framing intact


def test_a_reply_that_ends_inside_a_long_line_is_reported():
    s, net, clock = session([b"HTTP/1.1 200 OK\r\nX-Long: " + b"v" * 300])
    with raises(HttpError) as r:
        s.request("GET", "/", None, soon(clock))
    assert r.value.kind == "closed" and "middle of a line" in str(r.value), r.value


def test_a_reset_mid_body_is_an_error_and_closes_the_socket():
    s, net, clock = session([b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nhel", OSError(104)])
    with raises(HttpError) as r:
        s.request("GET", "/", None, soon(clock))
    assert r.value.kind == "closed" and r.value.transient
    assert net.sockets[0].closed


def test_a_reply_cut_short_is_reported():
    s, net, clock = session([b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nhel"])
    with raises(HttpError) as r:
        s.request("GET", "/", None, soon(clock))
    assert r.value.kind == "closed" and "47 bytes before" in str(r.value), r.value


def test_the_connect_timeout_is_bounded_by_the_deadline():
    s, net, clock = session([reply(200, b"ok")])
    s.request("GET", "/", None, soon(clock, 1500))
    timeouts = net.sockets[0].timeouts
    assert timeouts and max(timeouts) <= 1.5, timeouts
    assert not net.sockets[0].blocking  # after the connect, reads and writes never block


def test_a_passed_deadline_sends_nothing_and_is_not_a_network_failure():
    s, net, clock = session([reply(200, b"ok")])
    with raises(HttpError) as r:
        s.request("GET", "/", None, clock.monotonic_ms())
    assert r.value.kind == "deadline"
    assert not net.sockets


def test_connect_refused_is_a_connect_error():
    s, net, clock = session(OSError(111))
    with raises(HttpError) as r:
        s.request("GET", "/", None, soon(clock))
    assert r.value.kind == "connect" and "cloud.test:8080" in str(r.value)


def test_retry_after_in_seconds_and_as_an_http_date():
    date = "Sun, 06 Nov 1994 08:49:37 GMT"
    s, net, clock = session(
        [
            reply(503, b"", {"Retry-After": "120"}),
            reply(429, b"", {"Retry-After": "Sun, 06 Nov 1994 08:51:07 GMT", "Date": date}),
            reply(503, b"", {"Retry-After": "soon"}),
        ]
    )
    waits = [s.request("GET", "/", None, soon(clock)).retry_after_ms() for _ in range(3)]
    assert waits == [120000, 90000, None], waits


def test_the_date_header_sets_an_unknown_wall_clock_but_not_one_set_by_ntp():
    s, net, clock = session(
        [reply(200, b"", {"Date": "Fri, 15 Jan 2027 08:00:00 GMT"})] * 1,
        [reply(200, b"", {"Date": "Fri, 15 Jan 2027 09:00:00 GMT", "Connection": "close"})],
    )
    s.request("GET", "/", None, soon(clock))
    assert clock.wall_source == "http-date"
    assert clock.wall_time() in (1800000000, 1800000001)
    clock.set_wall_time(1800000500, "ntp")
    s.close()
    s.request("GET", "/", None, soon(clock))
    assert clock.wall_source == "ntp" and clock.wall_time() in (1800000500, 1800000501)


def test_http_dates_convert_to_unix_seconds():
    assert http.parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777
    assert http.parse_http_date("Sat, 01 Jan 2000 00:00:00 GMT") == 946684800
    assert http.parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT") == 1835481599
    assert http.parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") is None
    assert http.parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT") is None


def test_form_encoding_and_basic_client_authentication():
    body = http.urlencode([("grant_type", "refresh_token"), ("refresh_token", "a b+c/=&é")])
    assert bytes(body) == b"grant_type=refresh_token&refresh_token=a%20b%2Bc%2F%3D%26%C3%A9"
    # RFC 6749 §2.3.1: both parts form-encoded, then base64("id%3A1:s%40cret").
    assert http.basic_auth("id:1", "s@cret") == "Basic aWQlM0ExOnMlNDBjcmV0"


def test_an_absolute_url_on_another_host_gets_its_own_connection_and_host_header():
    s, net, clock = session([reply(200, b"a")], [reply(200, b"b")], [reply(200, b"c")])
    s.request("POST", "/api", b"x", soon(clock))
    s.request("POST", "http://auth.test:9090/o/token/", b"y", soon(clock))
    s.request("POST", "/api", b"z", soon(clock))
    first, other, back = net.sockets
    assert bytes(other.sent).startswith(b"POST /o/token/ HTTP/1.1\r\nHost: auth.test:9090\r\n")
    assert first.closed and other.closed  # one connection at a time
    assert bytes(back.sent).startswith(b"POST /api HTTP/1.1\r\nHost: cloud.test:8080\r\n")
    assert net.lookups == 2  # each host resolved once in the session
