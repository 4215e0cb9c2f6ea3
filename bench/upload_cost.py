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
  On the unix port mbedTLS allocates from libc, so this is the firmware's own Python heap.
  Two layouts of the code:
  - romfs: `tempnode build --board host` packed by mpremote's own ROMFS builder and mounted
    with `vfs.VfsRom`, as a board with a ROMFS partition runs it (MicroPython >= 1.25): the
    importer references bytecode and string constants in the image instead of copying them
    (py/persistentcode.c, `mp_reader_try_read_rom`); only the runtime's objects for the code
    (functions, classes, module dicts, qstr pool entries) take heap. The unix port has no
    memory-mapped flash, so the image is read into a buffer allocated first, and the cap is
    the figure plus the image's size (the GC's tables for the image's blocks, about 1.2% of
    it, are still counted against the firmware).
  - mpy: the same `.mpy` files on a normal filesystem, whose bytecode is copied into the heap.
  The unix port is 64-bit: pointers, objects and GC blocks (32 B) are twice a 32-bit
  ESP32's or RP2040's, so a board needs less than these figures.

    python bench/upload_cost.py [--hours 24] [--naive 240] [--quick]

Last line: RESULT handshakes_per_reading=<x> bytes_ratio_naive_over_ours=<y> min_heap_kb=<romfs>
min_heap_kb_mpy_in_ram=<mpy>
"""

import argparse
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mpremote.romfs import make_romfs  # noqa: E402

from host_tools.build import build, mpy_cross_binary  # noqa: E402
from host_tools.cloud import app  # noqa: E402
from host_tools.cloud.admin_client import AdminClient  # noqa: E402

DEVICE_SCRIPT = Path(__file__).with_name("upload_cost_device.py")
MICROPYTHON = Path(sys.executable).with_name("micropython")
HEAP_RANGE_KB = (8, 256)
DEVICE_IMPORT = "import upload_cost_device"
# What a board's boot does with its ROMFS partition, on a buffer in place of the flash: the
# buffer is the first allocation, so it sits below the firmware's objects.
ROMFS_MOUNT = (
    "import vfs,sys;i=bytearray({size});f=open({path!r},'rb');f.readinto(i);f.close();"
    "vfs.mount(vfs.VfsRom(i),'/rom');sys.path[:0]=['/rom'];del f;" + DEVICE_IMPORT
)
HEAP_LAYOUTS = {  # layout: (title, where the firmware package is imported from)
    "romfs": ("code in ROMFS (production)", "/rom/tempnode/__init__.mpy"),
    "mpy": ("code as .mpy in a filesystem", "tempnode/__init__.mpy"),
}


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
        with contextlib.redirect_stdout(io.StringIO()):  # it prints the image's tree
            self.romfs.write_bytes(make_romfs(self.firmware, mpy_cross=False))
        self.devices = 0

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

    def run_device(self, folder, args, heap_kb=512, layout="board"):
        # The heap runs leave the simulated board out: its modules (virtual time, socket
        # wrapper) are Python on the host but C on a real board, so they would be counted.
        heap, path, command = heap_kb * 1024, self.path, DEVICE_IMPORT
        if layout == "mpy":
            path = self.firmware
        elif layout == "romfs":
            size = self.romfs.stat().st_size
            heap, path = heap + size, ""
            command = ROMFS_MOUNT.format(size=size, path=str(self.romfs))
        proc = subprocess.run(
            [str(MICROPYTHON), "-X", f"heapsize={heap}", "-c", command],
            cwd=folder,
            env=dict(
                os.environ,
                MICROPYPATH=path,
                TEMPNODE_VCLOCK=str(self.work / "vclock"),
                BENCH=" ".join(args),
            ),
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

    def min_heap_kb(self, layout, step_kb):
        folder = self.device(self.cloud.base_url)
        device_id = folder.name

        def succeeds(kb):
            self.fresh_credential(folder, device_id)
            return self.run_device(folder, ["heap"], heap_kb=kb, layout=layout)

        low, high = HEAP_RANGE_KB
        best = succeeds(high)
        if best is None:
            raise SystemExit(f"the heap run ({layout}) fails even with {high} KB")
        if not best["code_file"].endswith(HEAP_LAYOUTS[layout][1]):
            raise SystemExit(f"the heap run ({layout}) imported {best['code_file']}")
        while high - low > step_kb:
            middle = (low + high) // 2
            result = succeeds(middle)
            if result is None:
                low = middle
            else:
                high, best = middle, result
        return high, best


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
            heaps = {layout: bench.min_heap_kb(layout, step_kb) for layout in HEAP_LAYOUTS}
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
        f"heap: an upload session of 60 readings with a renewal, smallest heap in steps of "
        f"{step_kb} KB (64-bit unix port)"
    )
    print(f"{'layout':<30} {'min heap':>9} {'code':>9} {'working set':>12} {'live at start':>14}")
    for layout, (title, _) in HEAP_LAYOUTS.items():
        heap_kb, heap = heaps[layout]
        code_kb = heap["code_bytes"] / 1024
        resting_kb = heap["resting_bytes"] / 1024
        print(
            f"{title:<30} {heap_kb:>6} KB {code_kb:>6.1f} KB {heap_kb - code_kb:>9.1f} KB "
            f"{resting_kb:>11.1f} KB"
        )
    print(
        "live at start: everything live when the first request begins (interpreter, code, "
        "link, TLS context, the first batch), the floor under any heap cap"
    )
    print(
        f"RESULT handshakes_per_reading={handshakes_per_reading:.4f} "
        f"bytes_ratio_naive_over_ours={bytes_ratio:.1f} min_heap_kb={heaps['romfs'][0]} "
        f"min_heap_kb_mpy_in_ram={heaps['mpy'][0]}"
    )


if __name__ == "__main__":
    main()
