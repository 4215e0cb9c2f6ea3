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

    python bench/upload_cost.py [--hours 24] [--naive 240] [--quick]

Last line: RESULT handshakes_per_reading=<x> bytes_ratio_naive_over_ours=<y> min_heap_kb=<z>
"""

import argparse
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

from host_tools.build import build, mpy_cross_binary  # noqa: E402
from host_tools.cloud import app  # noqa: E402
from host_tools.cloud.admin_client import AdminClient  # noqa: E402

DEVICE_SCRIPT = Path(__file__).with_name("upload_cost_device.py")
MICROPYTHON = Path(sys.executable).with_name("micropython")
HEAP_RANGE_KB = (8, 256)


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

    def run_device(self, folder, args, heap_kb=512, board=True):
        # The heap run leaves the simulated board out: its modules (virtual time, socket
        # wrapper) are Python on the host but C on a real board, so they would be counted.
        path = self.path if board else self.firmware
        proc = subprocess.run(
            [str(MICROPYTHON), "-X", f"heapsize={heap_kb}k", "-c", "import upload_cost_device"],
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
                return json.loads(line[len("BENCH ") :])
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

    def min_heap_kb(self, step_kb):
        folder = self.device(self.cloud.base_url)
        device_id = folder.name

        def succeeds(kb):
            self.fresh_credential(folder, device_id)
            return self.run_device(folder, ["heap"], heap_kb=kb, board=False)

        low, high = HEAP_RANGE_KB
        best = succeeds(high)
        if best is None:
            raise SystemExit(f"the heap run fails even with {high} KB")
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
            heap_kb, heap = bench.min_heap_kb(step_kb)
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
    code_kb = heap["code_bytes"] / 1024
    print(
        f"heap: an upload session of 60 readings with a renewal succeeds with -X heapsize="
        f"{heap_kb}k (not {heap_kb - step_kb}k); of that, the link's code loaded from .mpy "
        f"holds {code_kb:.1f} KB, the session's working set the other {heap_kb - code_kb:.1f} KB"
    )
    print(
        f"RESULT handshakes_per_reading={handshakes_per_reading:.4f} "
        f"bytes_ratio_naive_over_ours={bytes_ratio:.1f} min_heap_kb={heap_kb}"
    )


if __name__ == "__main__":
    main()
