# Issue 6's safe mode on the simulated board running the real firmware: the button held at boot,
# or 5 quick reboots in a row (counted in RTC memory, which a power cut clears), skips the
# logger and leaves the REPL.
import pytest
from field_board import BUTTON_PIN, FieldBoard, count, install_device, start_cloud

from host_tools.sim import resets

RESET = resets.exit_status(resets.HARD_RESET)  # machine.reset()
POWER_CUT = resets.exit_status(resets.PWRON_RESET)  # the next boot is a power-on
REPL = 0
BUTTON_SAFE_MODE = "tempnode: SAFE MODE (the safe-mode button was held at boot)"
LOOP_SAFE_MODE = "tempnode: SAFE MODE (5 quick reboots in a row)"
LOGGING = "tempnode: logging every 30 s"
INJECTED = "RuntimeError: injected fault in the logger"
# Runs on the board before main.py: with TEMPNODE_TEST_CRASH set, the logger's every step fails.
CRASH = """
import os
import tempnode.main_loop

def _crash(self):
    raise RuntimeError("injected fault in the logger")

if os.getenv("TEMPNODE_TEST_CRASH"):
    tempnode.main_loop.MainLoop.step = _crash
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("field-safe-mode")
    cloud = start_cloud(work)
    yield install_device(cloud, work / "install", "field-safe-mode")
    cloud.stop()


def boot_lines(board, **env):
    """(exit status, this boot's console lines)."""
    first = len(board.lines)
    status = board.boot(**env)
    return status, board.lines[first:]


def test_the_button_held_at_boot_enters_safe_mode_and_the_next_boot_logs(installed, tmp_path):
    board = FieldBoard(installed, tmp_path, scenario={"duration_s": 90})
    status, lines = boot_lines(board, TEMPNODE_PINS='{"%s": 0}' % BUTTON_PIN)
    assert status == REPL, lines
    assert count(lines, BUTTON_SAFE_MODE) == 1, lines
    assert count(lines, LOGGING) == 0, lines
    assert lines[-1].startswith(">>>"), lines
    levels = board.led_levels()
    assert levels and levels[-1][1] == 1, levels  # steady on until the REPL session ends
    assert board.led_bursts() == [], levels  # no pattern blinked before it
    # Released: the next boot runs the logger and samples.
    status, lines = boot_lines(board)
    assert status is None, lines  # still logging when the scenario's time was up
    assert count(lines, LOGGING) == 1 and count(lines, "SAFE MODE") == 0, lines
    assert len(board.led_levels()) > len(levels) + 4  # blinks after each sample again


def test_the_button_does_not_count_as_a_quick_reboot(installed, tmp_path):
    board = FieldBoard(installed, tmp_path, files={"boot.py": CRASH})
    for _ in range(6):
        status, lines = boot_lines(board, TEMPNODE_PINS='{"%s": 0}' % BUTTON_PIN)
        assert status == REPL and count(lines, BUTTON_SAFE_MODE) == 1, lines
    status, lines = boot_lines(board, TEMPNODE_TEST_CRASH="1")
    assert status == RESET and count(lines, INJECTED) == 1, lines


def test_a_crash_at_every_boot_resets_four_times_then_stays_in_safe_mode(installed, tmp_path):
    board = FieldBoard(installed, tmp_path, files={"boot.py": CRASH})
    for _ in range(4):
        status, lines = boot_lines(board, TEMPNODE_TEST_CRASH="1")
        assert status == RESET, lines
        assert count(lines, "Traceback (most recent call last):") == 1, lines
        assert count(lines, INJECTED) == 1, lines
        assert count(lines, "the logger failed; resetting the board") == 1, lines
    status, lines = boot_lines(board, TEMPNODE_TEST_CRASH="1")
    assert status == REPL, lines
    assert count(lines, LOOP_SAFE_MODE) == 1 and count(lines, LOGGING) == 0, lines
    assert board.led_levels()[-1][1] == 1
    # The count starts again after safe mode: the next boot (after a fix) is a normal boot.
    status, lines = boot_lines(board, TEMPNODE_TEST_CRASH="1")
    assert status == RESET and count(lines, LOGGING) == 1, lines


def test_a_power_cut_clears_the_quick_reboot_count(installed, tmp_path):
    board = FieldBoard(installed, tmp_path, files={"boot.py": CRASH})
    for _ in range(3):
        assert boot_lines(board, TEMPNODE_TEST_CRASH="1")[0] == RESET
    # The 4th boot runs the logger (its boot is counted) and loses power at its first write.
    status, lines = boot_lines(board, TEMPNODE_POWER_CUT_AT_WRITE="1")
    assert status == POWER_CUT and count(lines, LOGGING) == 1, lines
    # Power-on: RTC memory is empty, so it takes 5 more crashing boots to reach safe mode
    # (without the power cut the 5th boot overall would have been the safe-mode one).
    for _ in range(4):
        status, lines = boot_lines(board, TEMPNODE_TEST_CRASH="1")
        assert status == RESET and count(lines, "SAFE MODE") == 0, lines
    status, lines = boot_lines(board, TEMPNODE_TEST_CRASH="1")
    assert status == REPL and count(lines, LOOP_SAFE_MODE) == 1, lines
