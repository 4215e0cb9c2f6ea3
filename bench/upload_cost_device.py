# The device side of bench/upload_cost.py: the firmware's cloud link under MicroPython.
#
# Compiled to .mpy and imported (like the firmware) from a device folder (config.json,
# secrets.json, credential.json, ca.der), with the firmware (.mpy) on MICROPYPATH (and the
# simulated board, for virtual time, except in the heap run). Env BENCH says what to do:
#   day HOURS    the default upload settings: 4 sensors sampled every 60 s, an upload
#                session every 300 s (batches of at most 50, one connection, then close)
#   naive N      N readings, each posted alone on a fresh HTTPS connection, then closed
#   heap         one upload session of 60 readings (batches of 50 and 10) with a renewal, the
#                readings taken from a spool (`tempnode.spool`), as the logger does
#   heap firmware  the same, with every module the field logger has loaded when it uploads
#                (all but `device_flow` and `repl`, imported only to provision or at the REPL)
# and prints one line "BENCH <json>" with its counts (and, for heap, what is live after each
# step: the code, the link, the first batch, i.e. what is live when the first request starts;
# and the file the firmware package came from).
import gc

gc.collect()
_BEFORE_IMPORTS = gc.mem_alloc()

import json  # noqa: E402
import os  # noqa: E402

import tempnode  # noqa: E402
from tempnode.clock import Clock  # noqa: E402
from tempnode.cloud_link import CloudLink  # noqa: E402
from tempnode.spool import Spool  # noqa: E402

FIELD_MODULES = (  # and what they import (config, console, ds18x20, onewire_bus, ...)
    "tempnode.app",
    "tempnode.board",
    "tempnode.boot_state",
    "tempnode.main_loop",
    "tempnode.ota",
    "tempnode.safe_mode",
    "tempnode.sensors",
    "tempnode.status_led",
    "tempnode.wifi",
)
if (os.getenv("BENCH") or "").endswith(" firmware"):
    for name in FIELD_MODULES:
        __import__(name)

gc.collect()
# The heap the modules take: their bytecode too when loaded from .mpy files, only the
# runtime's objects for them when imported from a ROMFS image.
CODE_BYTES = gc.mem_alloc() - _BEFORE_IMPORTS

SENSORS = ("28ff4a1b02170345", "28ff4a1b02170346", "28ff4a1b02170347", "28ff4a1b02170348")
LABELS = ("tank", "roof", "cellar", "pipe")
SAMPLE_MS = 60000
UPLOAD_EVERY = 5  # samples: upload.interval_s 300
BATCH = 50  # upload.batch_size
WALL_TIME = 1796083200  # 2026-12-01: readings carry Unix time (above 2**30: a long on 32-bit)


class Reading:
    """What `tempnode.sensors` gives the spool for one sensor."""

    def __init__(self, i, c16):
        self.rom = bytes.fromhex(SENSORS[i])
        self.label = LABELS[i]
        self.c16 = c16
        self.error = None


def load(name):
    with open(name) as f:
        return json.loads(f.read())


clock = Clock()
link = CloudLink(load("config.json"), load("secrets.json"), clock, ".")
seq = 0
gc.collect()
LINK_BYTES = gc.mem_alloc() - _BEFORE_IMPORTS - CODE_BYTES


def sample(count):
    global seq
    out = []
    for n in range(count):
        seq += 1
        i = n % 4
        out.append(
            {
                "seq": seq,
                "sensor": SENSORS[i],
                "label": LABELS[i],
                "t": 1800000000 + seq,
                "c": 21.5,
            }
        )
    return out


def session(kept):
    while kept:
        batch = kept[:BATCH]
        done = link.upload(batch, clock.monotonic_ms() + 30000)
        kept = [r for r in kept if r["seq"] not in done]
        batch = None
    link.close()
    return kept


def day(hours):
    kept = []
    for minute in range(hours * 60):
        kept += sample(4)
        if (minute + 1) % UPLOAD_EVERY == 0:
            kept = session(kept)
        clock.sleep_ms(SAMPLE_MS)
    return {"readings": seq, "kept": len(kept)}


def naive(count):
    for _ in range(count):
        link.upload(sample(1), clock.monotonic_ms() + 30000)
        link.close()
    return {"readings": seq, "kept": 0}


def heap():
    clock.set_wall_time(WALL_TIME, "bench")
    spool = Spool("spool", 1000, clock)
    cycle = [Reading(i, 344 + i) for i in range(4)]
    for _ in range(15):
        spool.append(cycle, clock.monotonic_ms())
    cycle = None
    resting = batch_bytes = 0
    while spool.depth():  # what the logger does: one batch at a time, oldest first
        gc.collect()
        before = gc.mem_alloc()
        batch = spool.peek_batch(BATCH)
        if not resting:  # live before the first request: code, link, spool, the first batch
            gc.collect()
            resting = gc.mem_alloc()
            batch_bytes = resting - before
        spool.confirm(link.upload(batch, clock.monotonic_ms() + 30000, spool.dropped()))
        batch = None
    link.close()
    return {
        "readings": spool.taken(),
        "kept": 0,
        "code_bytes": CODE_BYTES,
        "link_bytes": LINK_BYTES,
        "batch_bytes": batch_bytes,
        "resting_bytes": resting,
        "code_file": tempnode.__file__,
    }


mode, _, count = (os.getenv("BENCH") or "heap").partition(" ")
if mode == "day":
    result = day(int(count))
elif mode == "naive":
    result = naive(int(count))
else:
    result = heap()
result["handshakes"] = link.session.connections
result["requests"] = link.session.requests
result["renewals"] = link.tokens.renewals
print("BENCH " + json.dumps(result))
