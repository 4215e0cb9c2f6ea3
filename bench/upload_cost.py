"""What an upload costs: TLS handshakes, requests and bytes per reading, and the firmware's heap.

The firmware's cloud link runs under the real `micropython` (compiled to .mpy, on the
simulated board's virtual time) against the dev cloud (HTTPS on loopback, `oauth2` profile,
1-hour access tokens, rotating refresh tokens), through a counting TCP proxy: every TLS byte
in both directions and every connection (= one full TLS handshake; the port's `tls` has no
session resumption) is counted on the wire.

- ours: one day of 1-minute readings from 4 sensors at the default upload settings
  (`upload.interval_s` 300, `upload.batch_size` 50): an upload session every 5 minutes on
  one connection, token renewals inside those sessions.
- naive: one fresh HTTPS POST per reading, as `requests.post` does it: a new connection and
  TLS handshake each time, the same request shape. Its cost per reading does not change with
  the day's length, so a sample of readings is measured, not a whole day.
- heap: one upload session of 60 readings (a batch of 50 and one of 10) that starts with a
  token renewal, run with smaller and smaller `-X heapsize` caps: the smallest that succeeds.
  The token replies carry an `id_token` of about 1 KB (a JWT signed RS256 with a 2048-bit key),
  as OpenID Connect servers send with every token reply (OpenID Connect Core 1.0, 3.1.3.3):
  the device never uses it, but it has to receive and parse it.
  Run on both interpreters of the suite (`tests/interpreters.py`): `i386`, Debian's 32-bit
  MicroPython 1.25, whose pointers, objects and GC blocks (16 B) are an ESP32's or an
  RP2040's, gives the board figure; `x86_64` (64-bit, 32 B blocks) is the peer.
  On the unix port mbedTLS allocates from libc, so `-X heapsize` is the firmware's own Python
  heap; mbedTLS's own peak is measured apart, on i386, with glibc's malloc tracer (mtrace from
  the same Debian libc, started from the interpreter through `ffi`): every allocation whose
  caller is in libmbedcrypto, libmbedx509 or libmbedtls, live bytes at their peak.
  Two sets of modules: `link`, what an upload session needs (cloud link, spool, clock), and
  `firmware`, every module the field logger has loaded when it uploads (its figure is the
  firmware's peak on a board, less the logger's own few KB: config, sensor bank, Wi-Fi).
  Two layouts of the code:
  - mpy: the `.mpy` files of `tempnode build --board host` on a filesystem, as `tempnode
    deploy` installs them and as the stock builds of every board here run them (none has a
    ROMFS partition: MicroPython 1.25 release notes); the bytecode is copied into the heap.
  - romfs: the same files packed by mpremote's own ROMFS builder and mounted with
    `vfs.VfsRom`, as a build with a ROMFS partition runs them (MicroPython >= 1.25; both
    interpreters have it): the importer references bytecode and string constants in the image
    instead of copying them (py/persistentcode.c, `mp_reader_try_read_rom`); the runtime's
    objects for the code still take heap (functions, classes, module dicts, and the qstr
    pool, into which every identifier's text is copied: 455 qstrs, 9.2 KB, of the link's
    20 KB on i386, `micropython.qstr_info()`). The unix port has no memory-mapped flash, so the
    image is read into a buffer allocated first, and the cap is the figure plus the image's
    size (the GC's tables for the image's blocks, about 1.2% of it on 64-bit and 2.3% on
    32-bit, still count against the firmware).

    python bench/upload_cost.py [--hours 24] [--naive 240] [--quick]

Last line: RESULT handshakes_per_reading=<x> bytes_ratio_naive_over_ours=<y>
min_heap_kb=<i386 link mpy> min_heap_kb_64=<x86_64 link mpy> tls_c_heap_kb=<mbedTLS, i386>
min_heap_kb_romfs=<i386 link romfs> firmware_heap_kb=<i386 firmware mpy>
firmware_heap_kb_romfs=<i386 firmware romfs>
"""

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402
from interpreters import INTERPRETERS  # noqa: E402

from host_tools.build import build, mpy_cross_binary, romfs_image  # noqa: E402
from host_tools.cloud import app, dialects  # noqa: E402
from host_tools.cloud.admin_client import AdminClient  # noqa: E402

DEVICE_SCRIPT = Path(__file__).with_name("upload_cost_device.py")
HEAP_RANGE_KB = (8, 256)
DEVICE_IMPORT = "import upload_cost_device"
# What a board's boot does with its ROMFS partition, on a buffer in place of the flash: the
# buffer is the first allocation, so it sits below the firmware's objects.
ROMFS_MOUNT = (
    "import vfs,sys;i=bytearray({size});f=open({path!r},'rb');f.readinto(i);f.close();"
    "vfs.mount(vfs.VfsRom(i),'/rom');sys.path[:0]=['/rom'];del f;"
)
HEAP_LAYOUTS = {  # layout: (title, where the firmware package is imported from)
    "mpy": (".mpy in a filesystem", "tempnode/__init__.mpy"),
    "romfs": ("ROMFS image", "/rom/tempnode/__init__.mpy"),
}
# (interpreter, modules, layout): the board's word size first, then the 64-bit peer. "link":
# the modules an upload session needs (cloud link, spool, clock); "firmware": every module the
# field logger has loaded when it uploads.
HEAP_RUNS = (
    ("i386", "link", "mpy"),
    ("i386", "link", "romfs"),
    ("i386", "firmware", "mpy"),
    ("i386", "firmware", "romfs"),
    ("x86_64", "link", "mpy"),
    ("x86_64", "link", "romfs"),
)
# glibc's mtrace (libc_malloc_debug.so.0, preloaded) starts when the program calls mtrace();
# the library exports it only as the versioned mtrace@GLIBC_2.0, which dlsym does not find,
# so it is looked up with dlvsym and called through `ffi`.
MTRACE_START = (
    "import ffi;c=ffi.open('libc.so.6');"
    "ffi.func('v',c.func('p','dlvsym','pss')(c.func('p','dlopen','si')"
    "('libc_malloc_debug.so.0',2),'mtrace','GLIBC_2.0'),'')();del c;"
)
MBEDTLS_LIBRARIES = ("libmbedcrypto.so", "libmbedx509.so", "libmbedtls.so")


def _b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def openid_id_token(issuer, audience):
    """An ID token as an OpenID Connect provider signs it (a JWT, RS256 with a 2048-bit key:
    RFC 7519, RFC 7518 §3.3), about 1 KB."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": _b64url(os.urandom(18)),
        "aud": audience,
        "exp": now + 3600,
        "iat": now,
        "auth_time": now,
        "nonce": _b64url(os.urandom(16)),
        "at_hash": _b64url(os.urandom(16)),
        "acr": "urn:mace:incommon:iap:silver",
        "amr": ["pwd", "mfa"],
        "azp": audience,
        "sid": _b64url(os.urandom(24)),
        "name": "Field Device Owner",
        "email": "owner@example.org",
        "email_verified": True,
        "locale": "en-GB",
    }
    header = {"alg": "RS256", "typ": "JWT", "kid": _b64url(os.urandom(32))}
    signed = ".".join(_b64url(json.dumps(part).encode()) for part in (header, claims))
    signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signed + "." + _b64url(signature)


def mbedtls_peak_bytes(trace):
    """mbedTLS's live C heap at its peak, from an mtrace log: allocations made by its libraries
    (`@ caller + ptr size`, realloc as `< ptr` then `> ptr size`, free `- ptr`)."""
    live, peak, total = {}, 0, 0
    for line in trace.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[0] != "@":
            continue
        caller, op, ptr = parts[1], parts[2], parts[3]
        if op in ("-", "<"):
            total -= live.pop(ptr, 0)
        elif op in ("+", ">") and any(lib in caller for lib in MBEDTLS_LIBRARIES):
            live[ptr] = int(parts[4], 16)
            total += live[ptr]
            peak = max(peak, total)
    return peak


class CountingProxy:
    """A TCP relay on loopback that counts connections and payload bytes each way."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.connections = self.up = self.down = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stopping.set()
        self.listener.close()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            server = socket.create_connection(("127.0.0.1", self.target_port))
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._pipe, args=(client, server, "up"), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, "down"), daemon=True).start()

    def _pipe(self, source, sink, direction):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                with self.lock:
                    setattr(self, direction, getattr(self, direction) + len(data))
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            source.close()


class Bench:
    def __init__(self, work):
        self.work = work
        self.cloud = app.start(work / "cloud", memory=True, vclock=work / "vclock")
        self.admin = AdminClient(
            self.cloud.base_url, self.cloud.cloud.admin_key, self.cloud.certs.ca_pem
        )
        self.cloud_port = int(self.cloud.base_url.rsplit(":", 1)[1])
        firmware, _ = build("host", out_root=work / "build")
        subprocess.run(
            [mpy_cross_binary(), "-o", str(firmware / "upload_cost_device.mpy"), DEVICE_SCRIPT],
            check=True,
        )
        self.firmware = str(firmware)
        self.path = os.pathsep.join([self.firmware, str(REPO / "boards" / "host")])
        self.romfs = work / "firmware.romfs"
        self.romfs.write_bytes(romfs_image(firmware))
        self.devices = 0
        self.id_token = self._send_id_tokens()

    def _send_id_tokens(self):
        """Every `oauth2` token reply of this cloud gets an OpenID Connect ID token."""
        id_token = openid_id_token(self.cloud.base_url, "bench-device-client")
        shape = dialects.TOKEN_REPLIES["oauth2"]
        dialects.TOKEN_REPLIES["oauth2"] = lambda reply, presented: {
            **shape(reply, presented),
            "id_token": id_token,
        }
        return id_token

    def close(self):
        self.cloud.stop()

    def device(self, base_url):
        """A device folder for a new oauth2 device of the dev cloud, pointed at `base_url`."""
        self.devices += 1
        info = self.admin.create_device(f"bench-{self.devices}", profile="oauth2")
        folder = self.work / info["device_id"]
        folder.mkdir()
        cloud = {
            "profile": "oauth2",
            "base_url": base_url,
            "ca": "ca.der",
            "client_id": info["client_id"],
        }
        write_json(folder / "config.json", {"device_id": info["device_id"], "cloud": cloud})
        write_json(folder / "secrets.json", {"client_secret": info["client_secret"]})
        (folder / "ca.der").write_bytes(self.cloud.certs.ca_der.read_bytes())
        self.fresh_credential(folder, info["device_id"], info["credential"])
        return folder

    def fresh_credential(self, folder, device_id, reply=None):
        reply = reply or self.admin.provision(device_id)
        credential = {"kind": "refresh_token", "refresh_token": reply["refresh_token"]}
        write_json(folder / "credential.json", credential)

    def run_device(
        self, folder, args, heap_kb=512, layout="board", interpreter="x86_64", trace=None
    ):
        """One device run; `trace`: a file for glibc's malloc trace of the run (i386 only)."""
        # The heap runs leave the simulated board out: its modules (virtual time, socket
        # wrapper) are Python on the host but C on a real board, so they would be counted.
        heap, path, command = heap_kb * 1024, self.path, DEVICE_IMPORT
        if layout == "mpy":
            path = self.firmware
        elif layout == "romfs":
            size = self.romfs.stat().st_size
            heap, path = heap + size, ""
            command = ROMFS_MOUNT.format(size=size, path=str(self.romfs)) + command
        env = dict(
            os.environ,
            MICROPYPATH=path,
            TEMPNODE_VCLOCK=str(self.work / "vclock"),
            BENCH=" ".join(args),
        )
        argv = INTERPRETERS[interpreter].argv()
        if trace is not None:
            argv = INTERPRETERS[interpreter].argv(preload="libc_malloc_debug.so.0")
            command = MTRACE_START + command
            env["MALLOC_TRACE"] = str(trace)
        proc = subprocess.run(
            [*argv, "-X", f"heapsize={heap}", "-c", command],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        for line in proc.stdout.splitlines():
            if line.startswith("BENCH "):
                result = json.loads(line[len("BENCH ") :])
                if "resting_bytes" in result and layout == "romfs":
                    result["resting_bytes"] -= heap - heap_kb * 1024  # the image's buffer
                return result
        return None

    def on_the_wire(self, args):
        proxy = CountingProxy(self.cloud_port)
        try:
            folder = self.device(f"https://localhost:{proxy.port}")
            result = self.run_device(folder, args)
            if result is None or result["kept"]:
                raise SystemExit(f"the device run {args} did not store every reading")
        finally:
            proxy.close()
        result.update(wire=proxy.up + proxy.down, connections=proxy.connections)
        return result

    def min_heap_kb(self, interpreter, modules, layout, step_kb):
        folder = self.device(self.cloud.base_url)
        device_id = folder.name
        args = ["heap"] if modules == "link" else ["heap", "firmware"]

        def succeeds(kb):
            self.fresh_credential(folder, device_id)
            return self.run_device(folder, args, kb, layout, interpreter)

        low, high = HEAP_RANGE_KB
        best = succeeds(high)
        what = f"the heap run ({interpreter}, {modules}, {layout})"
        if best is None:
            raise SystemExit(f"{what} fails even with {high} KB")
        if not best["code_file"].endswith(HEAP_LAYOUTS[layout][1]):
            raise SystemExit(f"{what} imported {best['code_file']}")
        while high - low > step_kb:
            middle = (low + high) // 2
            result = succeeds(middle)
            if result is None:
                low = middle
            else:
                high, best = middle, result
        return high, best

    def tls_c_heap_bytes(self):
        """mbedTLS's peak on the C heap in one heap session (i386, code in ROMFS)."""
        folder = self.device(self.cloud.base_url)
        trace = self.work / "mtrace.log"
        result = self.run_device(
            folder,
            ["heap"],
            heap_kb=HEAP_RANGE_KB[1],
            layout="romfs",
            interpreter="i386",
            trace=trace,
        )
        if result is None or not trace.exists():
            raise SystemExit("the heap run under glibc's malloc tracer failed")
        return mbedtls_peak_bytes(trace.read_text())


def write_json(path, obj):
    path.write_text(json.dumps(obj))


def row(name, r):
    n = r["readings"]
    return (
        f"{name:<26} {n:>8} {r['connections']:>10} {r['requests']:>8} {r['wire']:>11} "
        f"{r['connections'] / n:>10.4f} {r['requests'] / n:>9.4f} {r['wire'] / n:>9.1f}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=int, default=24, help="hours of readings for ours")
    parser.add_argument("--naive", type=int, default=240, help="readings posted the naive way")
    parser.add_argument("--quick", action="store_true", help="2 hours, 20 naive, coarse heap")
    args = parser.parse_args()
    hours, naive_n, step_kb = (2, 20, 4) if args.quick else (args.hours, args.naive, 1)

    with tempfile.TemporaryDirectory(prefix="tempnode-bench-") as work:
        bench = Bench(Path(work))
        try:
            ours = bench.on_the_wire(["day", str(hours)])
            naive = bench.on_the_wire(["naive", str(naive_n)])
            heaps = {run: bench.min_heap_kb(*run, step_kb) for run in HEAP_RUNS}
            tls_kb = bench.tls_c_heap_bytes() / 1024
            id_token_bytes = len(bench.id_token)
        finally:
            bench.close()

    print(
        f"{'pattern':<26} {'readings':>8} {'handshakes':>10} {'requests':>8} {'bytes':>11} "
        f"{'hs/reading':>10} {'req/read':>9} {'B/reading':>9}"
    )
    print(row(f"ours ({hours} h, 4 sensors)", ours))
    print(row(f"naive ({naive_n} readings)", naive))
    handshakes_per_reading = ours["connections"] / ours["readings"]
    bytes_ratio = (naive["wire"] / naive["readings"]) / (ours["wire"] / ours["readings"])
    print(
        f"ours: {ours['renewals']} token renewals, all inside upload sessions; "
        f"naive/ours: {(naive['connections'] / naive['readings']) / handshakes_per_reading:.1f}x "
        f"handshakes, {bytes_ratio:.1f}x bytes"
    )
    print()
    print(
        f"heap: an upload session of 60 readings from a spool with a renewal whose reply "
        f"carries a {id_token_bytes}-byte id_token; smallest -X heapsize in steps of {step_kb} KB"
    )
    print(
        f"{'interpreter':<11} {'modules':<9} {'code':<20} {'min heap':>9} {'code':>8} "
        f"{'link':>7} {'batch':>7} {'at start':>9} {'session':>8}"
    )
    for (interpreter, modules, layout), (heap_kb, heap) in heaps.items():
        kb = {k: heap[f"{k}_bytes"] / 1024 for k in ("code", "link", "batch", "resting")}
        print(
            f"{interpreter:<11} {modules:<9} {HEAP_LAYOUTS[layout][0]:<20} {heap_kb:>6} KB "
            f"{kb['code']:>5.1f} KB {kb['link']:>4.1f} KB {kb['batch']:>4.1f} KB "
            f"{kb['resting']:>6.1f} KB {heap_kb - kb['resting']:>5.1f} KB"
        )
    print(
        "link: the modules an upload session needs (cloud link, spool, clock); firmware: every "
        "module the field logger has loaded when it uploads. .mpy in a filesystem is what "
        "`tempnode deploy` installs and the stock ESP32, RP2 and ESP8266 builds run (they have "
        "no ROMFS partition); a ROMFS image needs a build with one. Columns: code, the "
        "runtime's objects for the modules (and their bytecode from .mpy); link, the CloudLink "
        "with its TLS context; batch, the first 50 reading dicts; at start, all that is live "
        "when the first request begins; session, the rest of the smallest heap (TLS socket, "
        "requests, replies, parsing, fragmentation)"
    )
    print(
        f"mbedTLS's own peak on the C heap (i386, Debian's mbedTLS build): {tls_kb:.1f} KB, "
        "outside -X heapsize on the unix port"
    )
    print(
        f"RESULT handshakes_per_reading={handshakes_per_reading:.4f} "
        f"bytes_ratio_naive_over_ours={bytes_ratio:.1f} "
        f"min_heap_kb={heaps['i386', 'link', 'mpy'][0]} "
        f"min_heap_kb_64={heaps['x86_64', 'link', 'mpy'][0]} tls_c_heap_kb={tls_kb:.0f} "
        f"min_heap_kb_romfs={heaps['i386', 'link', 'romfs'][0]} "
        f"firmware_heap_kb={heaps['i386', 'firmware', 'mpy'][0]} "
        f"firmware_heap_kb_romfs={heaps['i386', 'firmware', 'romfs'][0]}"
    )


if __name__ == "__main__":
    main()
