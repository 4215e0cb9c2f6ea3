# The HTTP client's memory under MicroPython: a reply of any size and framing streams through a
# heap that could not hold it.
import gc

from link_fakes import FakeNet, Pieces
from tempnode import http
from tempnode.clock import Clock
from tempnode.http import Session

HEAPSIZE = "192k"
FREE_HEAP = 12288  # what the ballast leaves free while a 32 KB reply arrives
REPLY_BODY = 32000
ROW = b"<p>Bad gateway</p>"


def session(script):
    net = FakeNet(script)
    http.socket = http.select = net
    clock = Clock()
    return Session("http://cloud.test:8080", clock), clock


_BALLAST = [None] * 3000


def leave_free(nbytes):
    """Fill the heap with ballast until about `nbytes` are free; `leave_free(None)` empties it.
    Big pieces first, then small ones that fill the heap's gaps too."""
    for i in range(len(_BALLAST)):
        _BALLAST[i] = None
    gc.collect()
    if nbytes is None:
        return
    i = 0
    for piece in (1024, 128, 16):
        while i < len(_BALLAST) and gc.mem_free() > nbytes + 2 * piece:
            try:
                _BALLAST[i] = bytearray(piece)
            except MemoryError:
                break
            i += 1
    assert gc.mem_free() < nbytes + 64, "the ballast list is too short for this heap"


def json_pieces(fields, padding, framing):
    """A reply whose body is an id_token of `padding` bytes, then `fields`, made piece by piece
    in the framing named ("sized", "chunked", "tiny": one-byte chunks)."""
    head = b'{"id_token": "'
    tail = b'", %s}' % fields
    size = len(head) + padding + len(tail)

    def body(i, n):  # body bytes i..i+n
        out = bytearray(min(i + n, size) - i)
        for at in range(i, i + len(out)):
            if at < len(head):
                out[at - i] = head[at]
            elif at < len(head) + padding:
                out[at - i] = 105  # "i"
            else:
                out[at - i] = tail[at - len(head) - padding]
        return bytes(out)

    if framing == "sized":
        start = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size
        return [start, Pieces(lambda i: body(i * 256, 256), (size + 255) // 256)], size
    start = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    n = 1 if framing == "tiny" else 256
    chunks = Pieces(
        lambda i: b"%x\r\n%s\r\n" % (len(body(i * n, n)), body(i * n, n)), (size + n - 1) // n
    )
    return [start, chunks, b"0\r\n\r\n"], size


def test_a_32_kb_reply_in_any_framing_streams_through_12_kb_of_free_heap():
    # An OpenID token reply with a huge id_token (the device never reads it), in one piece,
    # chunked, in 32000 one-byte chunks, and a proxy's HTML error page: each keeps the fields
    # asked for (or says it is not JSON) with far less than its size free on the heap.
    wanted = ("access_token", "expires_in")
    fields = b'"access_token": "A1", "expires_in": 60'
    for framing in ("sized", "chunked", "tiny", "page"):
        if framing == "page":
            row = ROW
            size = REPLY_BODY // len(row) * len(row)
            script = [b"HTTP/1.1 502 X\r\nContent-Length: %d\r\n\r\n" % size]
            script.append(Pieces(lambda i: ROW, size // len(row)))
        else:
            script, size = json_pieces(fields, REPLY_BODY, framing)
        s, clock = session(script)
        leave_free(FREE_HEAP)
        r = s.request("POST", "/token", b"", clock.monotonic_ms() + 30000, None, wanted)
        leave_free(None)
        assert r.size == size, (framing, r.size, size)
        if framing == "page":
            assert r.status == 502 and r.json() is None
        else:
            assert r.status == 200 and r.json() == {"access_token": "A1", "expires_in": 60}
