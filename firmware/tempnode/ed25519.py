"""Ed25519 signature verification (RFC 8032 §5.1.7) in plain Python, for signed updates.

    ok = verify(public_key, message, signature, tick=wdt.feed)   # True or False

Only verification: the device never signs. Big integers carry the field arithmetic mod
p = 2**255 - 19 (MicroPython's mpz, in C); points are in extended coordinates (X:Y:Z:T) with
the formulas of RFC 8032 §5.1.4, and [S]B - [k]A is one interleaved double-and-add (Straus)
over the 253 bits of the scalars, so a verification is about 253 doublings and 190 additions.
`tick` is called every few bits: the caller feeds the watchdog there (a verification takes
about a second on a 32-bit board, see README "Signed updates").

Rejected, as RFC 8032 §5.1.7 asks: S >= L (a malleable signature), a public key whose y is
not below p or whose x cannot be recovered, x = 0 with the sign bit set (§5.1.3 step 4).
R is compared byte for byte with the encoding of [S]B - [k]A, so a non-canonical R never
matches. The check is the cofactorless equation, as OpenSSL (and so `cryptography`) uses.
"""

from micropython import const

from tempnode.sha512 import sha512

_P = (1 << 255) - 19
_L = (1 << 252) + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_D2 = _D * 2 % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_BASE = (
    15112221349535400772501151409588531511454012693041857206046113283949847762202,
    46316835694926478169428394003475163141307993866256225615783033603165251855960,
)
_SCALAR_BITS = const(253)  # S and k are below L < 2**253
_TICK_BITS = const(16)  # bits of the scalar loop between two calls of `tick`


def verify(public_key, message, signature, tick=None):
    """True when `signature` (64 bytes) is `public_key`'s (32 bytes) over `message`."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode_point(public_key)
    if a is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    k = int.from_bytes(sha512(bytes(signature[:32]) + bytes(public_key) + message), "little")
    k %= _L
    x, y = a
    minus_a = (_P - x, y)
    q = _straus(s, k, _BASE, minus_a, tick)
    return _encode(q) == bytes(signature[:32])


def _decode_point(data):
    """(x, y) of an encoded point (RFC 8032 §5.1.3), or None when it is not one."""
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    # x = u v^3 (u v^7)^((p - 5) / 8), then fix it up by sqrt(-1) if needed (§5.1.3 step 3).
    v3 = v * v % _P * v % _P
    x = u * v3 % _P * pow(u * v3 % _P * v3 % _P * v % _P, (_P - 5) // 8, _P) % _P
    vxx = v * x % _P * x % _P
    if vxx != u:
        if vxx != (_P - u) % _P:
            return None  # u / v has no square root: not a point
        x = x * _SQRT_M1 % _P
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


def _encode(point):
    x, y, z, _t = point
    zi = pow(z, _P - 2, _P)
    x = x * zi % _P
    y = y * zi % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _extended(xy):
    x, y = xy
    return (x, y, 1, x * y % _P)


def _cached(point):
    """A point in the form `_add` takes as its second operand: (Y-X, Y+X, 2dT, 2Z)."""
    x, y, z, t = point
    return ((y - x) % _P, (y + x) % _P, t * _D2 % _P, 2 * z % _P)


def _add(p, c):
    # RFC 8032 §5.1.4, addition with the second point precomputed (`_cached`).
    x1, y1, z1, t1 = p
    ym, yp, t2d, z2 = c
    a = (y1 - x1) * ym % _P
    b = (y1 + x1) * yp % _P
    cc = t1 * t2d % _P
    d = z1 * z2 % _P
    e, f, g, h = b - a, d - cc, d + cc, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _double(p):
    # RFC 8032 §5.1.4, doubling.
    x1, y1, z1, _t = p
    a = x1 * x1 % _P
    b = y1 * y1 % _P
    c = 2 * z1 * z1 % _P
    h = a + b
    s = x1 + y1
    e = h - s * s % _P
    g = a - b
    f = c + g
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _straus(s, k, base, other, tick):
    """[s]base + [k]other, one doubling per bit and at most one addition."""
    b = _extended(base)
    o = _extended(other)
    table = (None, _cached(b), _cached(o), _cached(_add(b, _cached(o))))
    q = (0, 1, 1, 0)  # the neutral element
    for i in range(_SCALAR_BITS - 1, -1, -1):
        q = _double(q)
        pick = (s >> i & 1) | (k >> i & 1) << 1
        if pick:
            q = _add(q, table[pick])
        if tick is not None and i % _TICK_BITS == 0:
            tick()
    return q
