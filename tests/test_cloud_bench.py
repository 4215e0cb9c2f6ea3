"""bench/ingest_rate.py keeps working: quick mode, a table and a RESULT line, every reading
stored exactly once."""

import re
import subprocess
import sys

from host_tools.paths import REPO


def test_ingest_rate_bench_quick():
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "ingest_rate.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert out.splitlines()[0].split() == [
        "clients",
        "requests",
        "req/s",
        "readings/s",
        "p50",
        "ms",
        "p95",
        "ms",
    ]
    result = re.search(r"^RESULT ingest_rps=([\d.]+) .*stored_once=(\d+)/(\d+)$", out, re.M)
    assert result, out
    assert float(result.group(1)) > 20  # one keep-alive client manages far more; catches stalls
    assert result.group(2) == result.group(3)
