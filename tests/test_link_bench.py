"""bench/upload_cost.py keeps working: its quick mode runs and meets the wire targets, the
firmware's code in a ROMFS image keeps its bytecode out of the heap, the 32-bit figures are
the board's (well below the 64-bit peer's), and the session's heap does not grow back."""

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
        r"min_heap_kb=(\d+) min_heap_kb_64=(\d+) tls_c_heap_kb=(\d+) min_heap_kb_romfs=(\d+) "
        r"firmware_heap_kb=(\d+) firmware_heap_kb_romfs=(\d+)",
        last,
    )
    assert match, last
    handshakes, ratio = float(match[1]), float(match[2])
    heaps = [int(kb) for kb in match.groups()[2:]]
    mpy_kb, mpy_kb_64, tls_kb, romfs_kb, firmware_kb, firmware_romfs_kb = heaps
    assert handshakes <= 1 / 20  # at least 20x fewer TLS handshakes than one per reading
    assert ratio >= 5  # at least 5x fewer bytes on the wire than the naive pattern
    # The link's bytecode is about 30 KB of the .mpy layout's heap on 32-bit; from ROMFS it is
    # executed in place (the quick mode searches in 4 KB steps).
    assert 8 < romfs_kb <= mpy_kb - 12
    assert firmware_romfs_kb <= firmware_kb - 24  # the whole firmware's: about 62 KB
    # Objects and pointers are half the size on 32-bit, buffers are not: well below the 64-bit.
    assert mpy_kb <= mpy_kb_64 * 3 // 4
    assert mpy_kb < firmware_kb
    # mbedTLS's records (16 KB each way in Debian's build) live on the C heap, not in -X heapsize.
    assert tls_kb >= 32
    # Regressions: 87 KB for the session on 32-bit, 139 for the whole firmware, 56 from ROMFS
    # (the quick mode may say up to 3 KB more).
    assert mpy_kb <= 92 and firmware_kb <= 144 and romfs_kb <= 60
