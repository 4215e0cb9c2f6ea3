# The field firmware, unmodified, on the simulated board against the dev cloud: the scenarios
# of issue 6's "done when", run by `tempnode sim` and judged by its census of flash and cloud.
import time

import pytest

from host_tools.sim import BOARDS, simulate

SCENARIOS = BOARDS / "host" / "scenarios"


def run(tmp_path, name, lines=None):
    out = lines.append if lines is not None else lambda line: None
    start = time.monotonic()
    facts = simulate(
        SCENARIOS / f"{name}.json", tmp_path / "work", tmp_path / "cloud", stop_cloud=True, out=out
    )
    facts["wall_s"] = time.monotonic() - start
    print(f"{name}: {facts}")
    return facts


def assert_nothing_lost(facts):
    assert facts["lost"] == 0, facts
    assert facts["stored_twice"] == 0, facts
    assert facts["same_reading_two_seqs"] == 0, facts
    assert facts["dropped"] == 0, facts
    assert facts["stored"] + facts["spooled"] == facts["taken"], facts


@pytest.mark.timeout(600)
def test_a_week_with_outages_and_power_cuts_loses_nothing(tmp_path):
    lines = []
    facts = run(tmp_path, "week", lines)
    assert_nothing_lost(facts)
    assert facts["taken"] >= 7 * 24 * 60 * 4 - 4 * 60, facts  # 1-minute readings, 4 sensors
    assert facts["resets"].get("power_cut") == 20, facts
    # Hourly tokens over a week: about one renewal per lifetime (a power cut may add one).
    assert 150 <= facts["token_events"]["refreshed"] <= 200, facts
    assert facts["spooled"] <= 4 * 30, facts  # at most one upload interval still waiting
    assert not any("NEEDS PROVISIONING" in line for line in lines)
    # The run itself, after installing the firmware (a few seconds, as on a real board).
    assert facts["run_wall_s"] < 120, f"the 7-day run took {facts['run_wall_s']} s of wall time"


@pytest.mark.timeout(600)
def test_power_cut_at_hundreds_of_flash_writes_loses_nothing_and_keeps_the_credential(tmp_path):
    lines = []
    facts = run(tmp_path, "power_cuts", lines)
    assert facts["resets"].get("power_cut") == 320, facts
    cut_lines = [line for line in lines if "power cut at flash write" in line]
    assert len(cut_lines) == 320
    assert_nothing_lost(facts)
    events = facts["token_events"]
    assert events["refreshed"] >= 300, events  # the cuts fell among token rotations too
    assert events.get("replayed", 0) >= 1, events  # some between the cloud's rotation and ours
    assert not any("NEEDS PROVISIONING" in line for line in lines)


@pytest.mark.timeout(300)
def test_demo_rides_out_outages_and_heals_a_revocation_by_device_flow(tmp_path):
    lines = []
    facts = run(tmp_path, "demo", lines)
    assert_nothing_lost(facts)
    # Virtual time stops at the run's end: 3 hours of 1-minute samples of 4 sensors, every run.
    assert facts["taken"] == 180 * 4, facts
    # The run stopped the cloud it started (stop_cloud): no dashboard address for it.
    assert any("dashboard         (the dev cloud this run started is stopped)" in o for o in lines)
    assert facts["device_flow_approvals"] == 1, facts
    assert facts["token_events"]["revoked"] == 1, facts
    assert any("NEEDS PROVISIONING" in line for line in lines)
    assert any("device flow approved" in line for line in lines)
    assert any("Wi-Fi joined" in line for line in lines)


@pytest.mark.timeout(300)
def test_battery_logger_sleeps_between_samples_and_stamps_every_reading(tmp_path):
    facts = run(tmp_path, "deep_sleep")
    assert_nothing_lost(facts)
    assert facts["resets"]["deepsleep"] >= 110, facts  # one wake per 1-minute sample
    assert facts["resets"].get("power_cut") == 1, facts
    # The RTC, set from the cloud's Date header, stamps readings taken before Wi-Fi is up;
    # after the power cut the first wake uploads at once to learn the time again.
    assert facts["stored_without_time"] == 0, facts
