"""bench/sensor_noise.py in a short run: its table and RESULT line, and no wrong value."""

import sys

from sensor_sim import REPO


def test_sensor_noise_bench_short_run_reports_no_wrong_value(capsys):
    sys.path.insert(0, str(REPO / "bench"))
    import sensor_noise

    sensor_noise.main(["--cycles", "12"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("RESULT ")
    result = dict(item.split("=") for item in lines[-1].split()[1:])
    assert set(result) == {
        "wrong_values",
        "delivered_pct_5e-4",
        "delivered_pct_3e-3",
        "worst_clean_ratio",
    }
    assert result["wrong_values"] == "0"
    assert float(result["worst_clean_ratio"]) <= 1.05
    assert len(lines) == 2 + 15 + 1  # header, rule, 3 sizes x 5 rates, RESULT
