"""Spool flash wear and room, per segment size, on the host board's flash (littlefs, 256 x 4 KiB).

For each segment size it runs the spool (`tempnode.spool`, real littlefs on the simulated flash,
under MicroPython) through:
- the logger's steady state: 4 sensors sampled per cycle, an upload confirming everything every
  10 cycles: block writes (program operations) and block erases per reading;
- an outage: cycles with no upload until the full filesystem makes the spool drop its oldest
  readings: how many readings the flash holds;
- the flash life that erase rate gives at one 4-sensor cycle a minute, with wear spread over
  all blocks (littlefs wear levelling) and 100k erase cycles per block.
`--quick` runs fewer cycles, two sizes, on a quarter of the flash. Run it with CPython (it
starts MicroPython itself) or with `micropython` (MICROPYPATH=firmware:boards/host).
"""

import sys

QUICK = "--quick" in sys.argv
SIZES = (2048, 4096) if QUICK else (512, 1024, 2048, 4096)
STEADY_CYCLES = 200 if QUICK else 1500
SENSORS = 4
UPLOAD_EVERY = 10
BLOCK_SIZE = 4096
BLOCKS = 64 if QUICK else 256  # the host board's 1 MiB; a quarter of it when quick
ERASE_CYCLES = 100000
CYCLES_PER_YEAR = 60 * 24 * 365


def _under_cpython():
    import os
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    micropython = Path(sys.executable).with_name("micropython")
    path = os.pathsep.join(str(repo / p) for p in ("firmware", "boards/host")) + ":.frozen"
    env = dict(os.environ, MICROPYPATH=path)
    cmd = [str(micropython), "-X", "heapsize=8m", __file__] + sys.argv[1:]
    sys.exit(subprocess.run(cmd, env=env).returncode)


def _readings(n, base):
    from tempnode.sensors import Reading

    roms = [bytes((0x28, 0xFF, 0x4A, 0x1B, 0x02, 0x17, 0x03, i)) for i in range(SENSORS)]
    readings = []
    for i in range(n):
        r = Reading(roms[i % SENSORS], "sensor-%d" % (i % SENSORS))
        r.c16 = base + i
        readings.append(r)
    return readings


def _fresh_spool(segment_bytes):
    import os

    import vfs
    from sim_flash import SimFlash
    from tempnode.clock import Clock
    from tempnode.spool import Spool

    try:
        vfs.umount("/bench")
    except OSError:
        pass
    flash = SimFlash(BLOCK_SIZE, BLOCKS)
    vfs.VfsLfs2.mkfs(flash)
    vfs.mount(vfs.VfsLfs2(flash), "/bench")
    os.chdir("/bench")
    clock = Clock()
    return flash, clock, Spool("spool", 10**7, clock, segment_bytes)


def steady_state(segment_bytes):
    flash, clock, spool = _fresh_spool(segment_bytes)
    writes, erases = flash.writes, flash.erases
    for k in range(STEADY_CYCLES):
        spool.append(_readings(SENSORS, k), clock.monotonic_ms())
        if k % UPLOAD_EVERY == UPLOAD_EVERY - 1:
            spool.confirm([r["seq"] for r in spool.peek_batch(SENSORS * UPLOAD_EVERY)])
    readings = STEADY_CYCLES * SENSORS
    return (flash.writes - writes) / readings, (flash.erases - erases) / readings


def outage(segment_bytes):
    """(block writes per reading while nothing is confirmed, readings held when the flash is
    full)."""
    flash, clock, spool = _fresh_spool(segment_bytes)
    writes = flash.writes
    k = 0
    while spool.dropped() == 0:
        spool.append(_readings(SENSORS, k), clock.monotonic_ms())
        k += 1
    return (flash.writes - writes) / (k * SENSORS), spool.depth()


def main():
    from tempnode.spool import SEGMENT_BYTES

    print("           | steady state: per reading | outage: per reading | flash full  | flash")
    print("segment, B | block writes | erases     | block writes        | readings    | life, y")
    print("-----------|--------------|------------|---------------------|-------------|--------")
    chosen = None
    for size in SIZES:
        writes, erases = steady_state(size)
        outage_writes, held = outage(size)
        life = ERASE_CYCLES * BLOCKS / (erases * SENSORS * CYCLES_PER_YEAR)
        mark = "  (default)" if size == SEGMENT_BYTES else ""
        print(
            "%10d | %12.2f | %10.3f | %19.2f | %11d | %6.0f%s"
            % (size, writes, erases, outage_writes, held, life, mark)
        )
        if size == SEGMENT_BYTES:
            chosen = (writes, erases, outage_writes, held, life)
    print(
        "RESULT segment_bytes=%d writes_per_reading=%.2f erases_per_reading=%.3f "
        "outage_writes_per_reading=%.2f outage_readings=%d flash_life_years=%.0f"
        % ((SEGMENT_BYTES,) + chosen)
    )


if sys.implementation.name == "micropython":
    main()
elif __name__ == "__main__":
    _under_cpython()
