"""Ingest rate of the dev cloud: requests per second on loopback, batches of 50 readings.

Starts `tempnode cloud serve` (HTTPS, in-memory database) in its own process, then posts
batches of 50 new readings from 1, 2 and 4 client threads, each on one keep-alive HTTPS
connection (`requests.Session`), for a few seconds per level. Every batch is a real one: new
sequence numbers, checked and stored; at the end the cloud must hold every reading exactly
once. The clients share the machine with the server, so the figure is a floor.

    python bench/ingest_rate.py [--seconds 5] [--quick]
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host_tools.cloud.process import spawn  # noqa: E402

BATCH = 50
LEVELS = (1, 2, 4)
SENSORS = ("28ff4a1b02170345", "28ff4a1b02170346", "28ff4a1b02170347", "28ff4a1b02170348")


class Seqs:
    """Sequence numbers handed out to the client threads, never twice."""

    def __init__(self):
        self.next = 0
        self.lock = threading.Lock()

    def take(self, n):
        with self.lock:
            first = self.next
            self.next += n
        return range(first, first + n)


def batch(seqs):
    return {
        "device": "bench-01",
        "sent_mono_ms": 10_000_000,
        "dropped": 0,
        "readings": [
            {"seq": s, "sensor": SENSORS[s % 4], "label": "t", "t": 1.8e9 + s, "c": 20 + s % 7}
            for s in seqs
        ],
    }


def client(url, ca_pem, token, seqs, until, latencies):
    web = requests.Session()
    web.verify = ca_pem
    web.trust_env = False
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < until:
        sent = batch(seqs.take(BATCH))
        started = time.monotonic()
        reply = web.post(url, json=sent, headers=headers, timeout=10)
        latencies.append(time.monotonic() - started)
        if reply.status_code != 200 or len(reply.json()["stored"]) != BATCH:
            raise SystemExit(f"ingest failed: {reply.status_code} {reply.text[:200]}")
    web.close()


def run_level(url, ca_pem, token, seqs, clients, seconds):
    latencies = []
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client, args=(url, ca_pem, token, seqs, until, latencies))
        for _ in range(clients)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "clients": clients,
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "readings_per_s": len(latencies) * BATCH / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per concurrency level")
    parser.add_argument("--quick", action="store_true", help="1 s per level (keeps it working)")
    args = parser.parse_args(argv)
    seconds = 1.0 if args.quick else args.seconds
    with tempfile.TemporaryDirectory() as data_dir, spawn(data_dir, memory=True) as cloud:
        device = cloud.admin.create_device("bench-01", access_ttl_s=0)
        token = device["credential"]["access_token"]
        url = cloud.info["url"] + "/api/v1/readings"
        seqs = Seqs()
        rows = [run_level(url, cloud.info["ca_pem"], token, seqs, n, seconds) for n in LEVELS]
        held = cloud.admin.device("bench-01")["readings"]
    print(
        f"{'clients':>7} {'requests':>8} {'req/s':>8} {'readings/s':>10} {'p50 ms':>7} "
        f"{'p95 ms':>7}"
    )
    for r in rows:
        print(
            f"{r['clients']:>7} {r['requests']:>8} {r['rps']:>8.1f} {r['readings_per_s']:>10.0f}"
            f" {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f}"
        )
    posted = sum(r["requests"] for r in rows) * BATCH
    if held != posted:
        raise SystemExit(f"the cloud holds {held} readings, {posted} were posted")
    best = max(rows, key=lambda r: r["rps"])
    print(
        f"RESULT ingest_rps={best['rps']:.1f} readings_per_s={best['readings_per_s']:.0f} "
        f"batch={BATCH} clients={best['clients']} single_client_rps={rows[0]['rps']:.1f} "
        f"stored_once={held}/{posted}"
    )


if __name__ == "__main__":
    main()
