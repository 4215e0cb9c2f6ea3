# Issue 6's bad days on the simulated board running the real firmware: a malformed config, a
# missing secrets file, a full filesystem and a 1-Wire bus shorted low each give the documented
# console message and LED pattern, and none becomes a crash loop.
import json
import shutil

import pytest
from field_board import FieldBoard, count, install_device, start_cloud

from host_tools.cli import main

CONFIG_ERROR = [60] * 5  # status_led.PATTERNS: 5 fast blinks of 60 ms
OK_BLIP = [30]  # status_led.PATTERNS: "ok", one 30 ms blip per sample
SENSOR_FAULT = [120] * 4  # 4 blinks of 120 ms
NOT_RUNNING = "the logger is not running: fix the configuration (tempnode validate) and reset"
SPOOL_FULL = "spool: cannot store this cycle's readings"
BUS_SHORT = (
    "tempnode: sensors: the 1-Wire bus is held low (readings are kept as bus_short); "
    "check the 1-Wire wiring and pull-up"
)
BUS_BACK = "tempnode: sensors: fine again after "
# Runs on the board before main.py, once: fills the flash with a junk file until littlefs says
# it is full, the way years of other files could. `spool` is made first, as on a board that has
# logged before (FRESH_BOARD_FILL leaves that out).
FILL_FLASH = """
import os
try:
    os.stat("junk.bin")
except OSError:
    try:
        os.mkdir("spool")
    except OSError:
        pass
    _block = bytes(4096)
    with open("junk.bin", "wb") as _f:
        try:
            while True:
                _f.write(_block)
                _f.flush()
        except OSError:
            pass
    print("test: the flash is full")
"""
FRESH_BOARD_FILL = FILL_FLASH.replace('os.mkdir("spool")', "pass")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    cloud = start_cloud(tmp_path_factory.mktemp("field-bad-days-cloud"))
    yield cloud
    cloud.stop()


@pytest.fixture(scope="module")
def installed(cloud, tmp_path_factory):
    return install_device(cloud, tmp_path_factory.mktemp("field-bad-days"), "field-bad-days")


@pytest.fixture
def own_device(cloud, tmp_path, request):
    """A device of its own, for a test that counts what reaches the cloud."""
    return install_device(cloud, tmp_path / "install", request.node.name[5:37])


def assert_pattern(bursts, pattern):
    """Every burst is `pattern` (blink lengths within 30 ms: virtual time also flows with
    real time between the firmware's steps)."""
    assert bursts, "the status LED never blinked"
    for burst in bursts:
        assert len(burst) == len(pattern), bursts
        pairs = zip(burst, pattern, strict=True)
        assert all(want <= got < want + 30 for got, want in pairs), bursts


def assert_config_error_at_repl(board, problems):
    """One boot that prints each problem, blinks config_error 3 times and ends at the REPL."""
    assert board.boot() == 0, board.lines  # the REPL, not a reset
    for problem in problems:
        assert count(board.lines, "tempnode: CONFIG ERROR: " + problem) == 1, board.lines
    assert count(board.lines, NOT_RUNNING) == 1, board.lines
    assert board.lines[-1].startswith(">>>"), board.lines[-3:]
    bursts = board.led_bursts()
    assert len(bursts) == 3, bursts
    assert_pattern(bursts, CONFIG_ERROR)
    assert not any("logging every" in line for line in board.lines)


def test_a_malformed_config_prints_every_problem_blinks_config_error_and_stays_at_the_repl(
    installed, tmp_path
):
    config = dict(installed.config, sample_interval_s=0, colour="blue")
    board = FieldBoard(installed, tmp_path, files={"config.json": json.dumps(config)})
    problems = [
        "config.json: sample_interval_s is 0, expected whole seconds from 5 to 86400 (an upload "
        "needs a few seconds between two samples)",
        "config.json: colour is an unknown field (a typo?)",  # README: reported as typos
    ]
    assert_config_error_at_repl(board, problems)
    # The next reset (a person pressing the button) does the same once more: no crash loop.
    assert board.boot() == 0
    for problem in problems:
        assert count(board.lines, "tempnode: CONFIG ERROR: " + problem) == 2
    assert len(board.led_bursts()) == 6


def test_a_config_that_is_not_json_says_so_and_stays_at_the_repl(installed, tmp_path):
    board = FieldBoard(installed, tmp_path, files={"config.json": '{"board": "host",'})
    problems = [
        "config.json is not valid JSON: fix it, or run `tempnode init` and `tempnode deploy`"
    ]
    assert_config_error_at_repl(board, problems)


def test_a_missing_secrets_file_tells_to_deploy_blinks_config_error_and_stays_at_the_repl(
    installed, tmp_path
):
    board = FieldBoard(installed, tmp_path, files={"secrets.json": None})
    assert_config_error_at_repl(
        board, ["secrets.json is missing: run `tempnode deploy` to copy it"]
    )


def test_a_flash_filled_to_the_last_block_still_spools_and_uploads_every_reading(
    own_device, tmp_path
):
    """Defined behaviour: a junk file takes every block littlefs will hand out. The spool
    still stores each cycle (its segment's blocks are rewritten copy-on-write in the blocks
    littlefs keeps back, and a confirmed segment's blocks come back), so every reading
    reaches the cloud in order, and the board neither crashes nor resets."""
    board = FieldBoard(own_device, tmp_path, files={"boot.py": FILL_FLASH})
    assert board.boot() is None, board.lines  # still running when the scenario ended
    assert count(board.lines, "test: the flash is full") == 1
    assert count(board.lines, "stopped (Ctrl-C)") == 1  # the logger was running at the end
    assert not any("Traceback" in line for line in board.lines), board.lines
    assert count(board.lines, SPOOL_FULL) == 0, board.lines
    cycles = board.sim.scenario["duration_s"] // 30
    seqs = [r["seq"] for r in board.cloud_readings()]
    assert seqs == list(range(len(seqs))) and len(seqs) >= cycles - 2, seqs
    bursts = board.led_bursts()
    assert len(bursts) >= cycles, bursts
    assert_pattern(bursts[-3:], OK_BLIP)


# A spool folder the full flash had no room for: the logger says so each cycle and keeps
# running (it used to crash at the first look at the spool, every boot, until safe mode).
def test_a_full_filesystem_on_a_board_that_never_logged_is_no_crash_loop(installed, tmp_path):
    board = FieldBoard(installed, tmp_path, files={"boot.py": FRESH_BOARD_FILL})
    assert board.boot() is None, board.lines
    assert count(board.lines, SPOOL_FULL) >= 9


def test_a_bus_shorted_low_is_reported_once_blinks_sensor_fault_and_uploads_bus_short(
    own_device, tmp_path
):
    short = {"kind": "bus_short", "from_s": 90, "to_s": 180}  # 3 cycles of 30 s
    board = FieldBoard(
        own_device,
        tmp_path,
        scenario={"duration_s": 330, "bus_faults": [short]},
    )
    assert board.boot() is None, board.lines  # still running when the scenario ended
    assert count(board.lines, BUS_SHORT) == 1, board.lines
    assert count(board.lines, BUS_BACK) == 1, board.lines
    assert board.lines.index(
        next(line for line in board.lines if BUS_SHORT in line)
    ) < board.lines.index(next(line for line in board.lines if BUS_BACK in line))
    # The LED shows sensor_fault after each cycle of the short (3 cycles of 30 s), ok else.
    bursts = board.led_bursts()
    faults = [burst for burst in bursts if len(burst) == 4]
    assert 2 <= len(faults) <= 4, bursts
    assert_pattern(faults, SENSOR_FAULT)
    readings = board.cloud_readings()
    shorted = [r for r in readings if r.get("error") == "bus_short"]
    assert 2 <= len(shorted) <= 4, readings
    assert all("c" not in r or r["c"] is None for r in shorted), shorted
    assert any(r.get("error") is None for r in readings), readings


def test_validate_prints_exactly_the_lines_the_board_prints(installed, tmp_path, capsys):
    """`tempnode validate` on the laptop and the board at boot, for the same bad config."""
    config = dict(installed.config, sample_interval_s=0, colour="blue")
    folder = tmp_path / "device"
    shutil.copytree(installed.image.parent / "device", folder)
    (folder / "config.json").write_text(json.dumps(config))
    assert main(["validate", "--dir", str(folder)]) == 2
    on_laptop = capsys.readouterr().err.splitlines()[:-1]  # the last line is the summary
    board = FieldBoard(installed, tmp_path / "board", files={"config.json": json.dumps(config)})
    assert board.boot() == 0, board.lines
    on_board = [line for line in board.lines if "CONFIG ERROR" in line]
    assert on_laptop == on_board and len(on_board) == 2, (on_laptop, on_board)
