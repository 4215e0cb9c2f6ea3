"""bench/upload_cost.py keeps working: its quick mode runs and meets the wire targets, the
firmware's code in a ROMFS image keeps its bytecode out of the heap, and the session's heap
does not grow back."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "upload_cost.py"


def test_upload_cost_quick_mode_prints_its_table_and_meets_the_wire_targets():
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=300
    )
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0
    last = proc.stdout.strip().splitlines()[-1]
    match = re.fullmatch(
        r"RESULT handshakes_per_reading=([\d.]+) bytes_ratio_naive_over_ours=([\d.]+) "
        r"min_heap_kb=(\d+) min_heap_kb_mpy_in_ram=(\d+)",
        last,
    )
    assert match, last
    handshakes, ratio = float(match[1]), float(match[2])
    romfs_kb, mpy_kb = int(match[3]), int(match[4])
    assert handshakes <= 1 / 20  # at least 20x fewer TLS handshakes than one per reading
    assert ratio >= 5  # at least 5x fewer bytes on the wire than the naive pattern
    # The link's bytecode is about 20 KB of the .mpy layout's heap; from ROMFS it is executed
    # in place (the quick mode searches in 4 KB steps).
    assert 8 < romfs_kb <= mpy_kb - 12
    # Header lines are read in small pieces, not 1 KB buffers: 55 KB (58 in 4 KB steps) on
    # this 64-bit port, 63 KB before.
    assert romfs_kb <= 60
