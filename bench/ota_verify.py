"""What checking an update's signature costs the board: time, heap, and the watchdog's gaps.

The board's own verifier (`firmware/tempnode/ed25519.py`, compiled to .mpy by `tempnode
build`) checks a release signature the way `tempnode.staging` does (Ed25519 over the signed
prefix and the manifest's SHA-256, `tempnode.manifest`), signed here by `cryptography`, on:

- the 64-bit unix port of this venv (`.venv/bin/micropython`), and
- a 32-bit MicroPython (Debian's i386 build that `make venv` unpacks, `tests/interpreters.py`;
  another with `--micropython32`), where every 255-bit number is
  a heap object as on an ESP32 or RP2040 and the big-integer arithmetic allocates more.

For each: the median time of a verification, the longest stretch between two watchdog feeds
(the verifier calls `tick` every 16 of the scalar's 253 bits), the heap the verifier's code
takes once imported, the bytes one verification allocates in all (`micropython.mem_total`:
short-lived big integers, garbage at once), and the smallest `-X heapsize` that imports the
verifier, then the smallest that also verifies (bisection; the interpreter's own start-up is
in both): their difference is what a verification needs at its peak.
The peer is OpenSSL (`cryptography`) in CPython on the same machine; the bounds are the
staging's budget for a verification (`_VERIFY_MS`, 4 s) and the strictest watchdog (Pico W,
8388 ms). A board's CPU is slower than this host's: scale the times by that ratio.

    python bench/ota_verify.py [--micropython32 "LOADER --library-path DIR MICROPYTHON"]

Last line: RESULT verify_ms_64=<t> verify_ms_32=<t> feed_gap_ms_32=<g> churn_kb_32=<c>
heap_kb_32=<import>+<verify> heap_kb_64=<import>+<verify> openssl_ratio_32=<r>
"""

import argparse
import hashlib
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from interpreters import INTERPRETERS  # noqa: E402

from host_tools.build import build  # noqa: E402
from host_tools.validate import firmware_module  # noqa: E402

MICROPYTHON64 = str(Path(sys.executable).with_name("micropython"))
VERIFY_BUDGET_MS = 4000  # firmware/tempnode/staging.py _VERIFY_MS
WATCHDOG_MS = 8388  # boards/pico-w.json watchdog_max_ms
RUNS = 15

DEVICE = """
import gc, sys, time, micropython
from binascii import unhexlify
sys.path.insert(0, {build!r})
key, message, signature = (unhexlify(x) for x in {case!r})
gc.collect()
before = gc.mem_alloc()
from tempnode import ed25519
gc.collect()
code = gc.mem_alloc() - before
gaps = []
last = [time.ticks_ms()]
def tick():
    now = time.ticks_ms()
    gaps.append(time.ticks_diff(now, last[0]))
    last[0] = now
times = []
for _ in range({runs}):
    gc.collect()
    start = time.ticks_us()
    last[0] = time.ticks_ms()
    assert ed25519.verify(key, message, signature, tick)
    times.append(time.ticks_diff(time.ticks_us(), start))
gc.collect()
total = micropython.mem_total()
assert ed25519.verify(key, message, signature)
churn = micropython.mem_total() - total
import json
print("RESULT " + json.dumps({{"times": times, "gap": max(gaps), "code": code, "churn": churn}}))
"""
FITS = """
import sys
from binascii import unhexlify
sys.path.insert(0, {build!r})
from tempnode import ed25519
print(ed25519.verify(*(unhexlify(x) for x in {case!r})) if {verify} else True)
"""


def signed_case():
    """(public key, signed message, signature) in hex, as a release carries them."""
    key = Ed25519PrivateKey.generate()
    manifest = json.dumps({"version": "bench", "files": [["tempnode/x.mpy", 1, "0" * 64]]})
    message = firmware_module("manifest").signed_message(
        hashlib.sha256(manifest.encode()).digest()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return key, (public.hex(), message.hex(), key.sign(message).hex())


def run(interpreter, heap_kb, code):
    return subprocess.run(
        [*interpreter, "-X", f"heapsize={heap_kb}k", "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
    )


def measure(interpreter, build_dir, case):
    out = run(interpreter, 1024, DEVICE.format(build=build_dir, case=case, runs=RUNS))
    if out.returncode != 0:
        raise SystemExit(f"{interpreter[-1]} failed: {out.stdout}{out.stderr}")
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")][-1]
    facts = json.loads(line[len("RESULT ") :])
    return {
        "verify_ms": statistics.median(facts["times"]) / 1000,
        "feed_gap_ms": facts["gap"],
        "code_kb": facts["code"] / 1024,
        "churn_kb": facts["churn"] / 1024,
        "import_heap_kb": smallest_heap(interpreter, build_dir, case, False),
        "min_heap_kb": smallest_heap(interpreter, build_dir, case, True),
    }


def smallest_heap(interpreter, build_dir, case, verify):
    """The smallest -X heapsize (KB) that imports the verifier (and verifies, if `verify`)."""
    low, high = 4, 256
    while low < high:
        middle = (low + high) // 2
        fits = run(interpreter, middle, FITS.format(build=build_dir, case=case, verify=verify))
        low, high = (low, middle) if fits.stdout.strip() == "True" else (middle + 1, high)
    return low


def openssl_ms(key, case):
    public = key.public_key()
    message, signature = bytes.fromhex(case[1]), bytes.fromhex(case[2])
    start = time.perf_counter()
    for _ in range(200):
        public.verify(signature, message)
    return (time.perf_counter() - start) / 200 * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    i386 = INTERPRETERS["i386"]
    default32 = str(i386.path) if i386.installed() else None
    parser.add_argument("--micropython32", default=default32, help="a 32-bit micropython")
    args = parser.parse_args()
    if not args.micropython32:
        raise SystemExit("no 32-bit micropython: pass --micropython32 COMMAND")
    key, case = signed_case()
    with tempfile.TemporaryDirectory() as scratch:
        build_dir, _ = build("host", out_root=Path(scratch))
        found = {
            "64-bit unix port": measure([MICROPYTHON64], str(build_dir), case),
            "32-bit (i386)": measure(shlex.split(args.micropython32), str(build_dir), case),
        }
    peer = openssl_ms(key, case)
    print(
        f"{'interpreter':<18} {'verify ms':>9} {'feed gap ms':>11} {'code KB':>7} "
        f"{'churn KB':>8} {'heap: import':>12} {'+ verify':>8} {'x OpenSSL':>9} {'of budget':>9}"
    )
    for name, f in found.items():
        print(
            f"{name:<18} {f['verify_ms']:>9.1f} {f['feed_gap_ms']:>11} {f['code_kb']:>7.1f} "
            f"{f['churn_kb']:>8.0f} {f['import_heap_kb']:>12} {f['min_heap_kb']:>8} "
            f"{f['verify_ms'] / peer:>9.0f} {f['verify_ms'] / VERIFY_BUDGET_MS:>9.4f}"
        )
    print(f"OpenSSL (cryptography, CPython): {peer:.3f} ms per verification")
    print(f"bounds: watchdog {WATCHDOG_MS} ms; staging's budget {VERIFY_BUDGET_MS} ms")
    b64, b32 = found["64-bit unix port"], found["32-bit (i386)"]
    print(
        f"RESULT verify_ms_64={b64['verify_ms']:.1f} verify_ms_32={b32['verify_ms']:.1f} "
        f"feed_gap_ms_32={b32['feed_gap_ms']} churn_kb_32={b32['churn_kb']:.0f} "
        f"heap_kb_32={b32['import_heap_kb']}+{b32['min_heap_kb'] - b32['import_heap_kb']} "
        f"heap_kb_64={b64['import_heap_kb']}+{b64['min_heap_kb'] - b64['import_heap_kb']} "
        f"openssl_ratio_32={b32['verify_ms'] / peer:.0f}"
    )


if __name__ == "__main__":
    main()
