"""The board's Ed25519 verifier (firmware/tempnode/ed25519.py, run by the real `micropython`)
against `cryptography` (OpenSSL): the same verdict on signatures OpenSSL made, on each of them
damaged, on malleable S + L, on a non-canonical R and on keys that are not curve points.
RFC 8032's own vectors are in tests/device/test_ed25519.py."""

import hashlib
import json
import os
import random
import subprocess

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from micropython_harness import REPO, micropython_binary

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493

VERIFY_ALL = """
import json, sys
from binascii import unhexlify
from tempnode.ed25519 import verify
cases = json.load(open(sys.argv[1]))
print(json.dumps([verify(*[unhexlify(x) for x in case]) for case in cases]))
"""


def raw(public):
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def openssl_verdict(public, message, signature):
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def signed_with_r(seed, message, r):
    """A signature with R chosen (the neutral element, in some encoding): S = k * a (mod L),
    so that [S]B - [k]A is the neutral element whatever bytes R was hashed as."""
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    public = raw(Ed25519PrivateKey.from_private_bytes(seed).public_key())
    k = int.from_bytes(hashlib.sha512(r + public + message).digest(), "little") % L
    return public, message, r + (k * a % L).to_bytes(32, "little")


def cases():
    rng = random.Random(17)
    out = []
    for n in range(40):
        seed = rng.randbytes(32)
        key = Ed25519PrivateKey.from_private_bytes(seed)
        public = raw(key.public_key())
        message = rng.randbytes(rng.choice((0, 1, 32, 45, 64, 127, 300)))
        signature = key.sign(message)
        out.append((public, message, signature))
        bit = 1 << rng.randrange(8)
        where = rng.randrange(64)
        damaged = bytearray(signature)
        damaged[where] ^= bit
        out.append((public, message, bytes(damaged)))
        out.append((public, message + b"!", signature))
        other = raw(Ed25519PrivateKey.generate().public_key())
        out.append((other, message, signature))
        s = int.from_bytes(signature[32:], "little")
        out.append((public, message, signature[:32] + (s + L).to_bytes(32, "little")))
        if n % 8 == 0:
            out.append(signed_with_r(seed, message, (1).to_bytes(32, "little")))  # canonical
            out.append(signed_with_r(seed, message, (P + 1).to_bytes(32, "little")))  # not
            out.append(((P + 1).to_bytes(32, "little"), message, signature))  # key y >= p
    return out


def test_the_board_s_verifier_and_openssl_agree_on_every_case(tmp_path):
    all_cases = cases()
    expected = [openssl_verdict(*case) for case in all_cases]
    assert 40 <= sum(expected) < len(expected)  # both verdicts are well represented
    (tmp_path / "cases.json").write_text(
        json.dumps([[part.hex() for part in case] for case in all_cases])
    )
    script = tmp_path / "verify_all.py"
    script.write_text(VERIFY_ALL)
    out = subprocess.run(
        [micropython_binary(), "-X", "heapsize=256k", str(script), str(tmp_path / "cases.json")],
        capture_output=True,
        text=True,
        env=dict(os.environ, MICROPYPATH=str(REPO / "firmware")),
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    disagree = [i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b]
    assert not disagree, [(i, expected[i]) for i in disagree]
