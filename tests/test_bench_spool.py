"""The spool wear benchmark keeps working (quick mode): a table, then its RESULT line."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "spool_wear.py"


def test_spool_wear_bench_prints_its_table_and_result():
    out = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert "(default)" in out.stdout
    result = dict(re.findall(r"(\w+)=([\d.]+)", lines[-1]))
    assert lines[-1].startswith("RESULT ")
    assert 0 < float(result["writes_per_reading"]) < 4
    assert 0 < float(result["erases_per_reading"]) < 0.5
    assert int(result["outage_readings"]) > 1000
