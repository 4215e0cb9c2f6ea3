# The board's version chooser (firmware/slots.py) under MicroPython on the simulated board's
# machine: which folder a boot runs, the trial boots it counts (not a power-on), the rollback
# after the last one or when the version cannot start, the safe-mode button above all of it.
import json
import os
import sys

import sim_board
import slots
from devtest import raises
from resets import DEEPSLEEP_RESET, HARD_RESET, PWRON_RESET, WDT_RESET

ENV = {"TEMPNODE_VCLOCK_STILL": "1"}
BROKEN_APP = "raise ImportError('no such module: tempnode.gone')\n"


def _board(button_held=False):
    """board.json with the safe-mode button on pin 0, held (0) or released (1)."""
    with open("board.json", "w") as f:
        json.dump({"pins": {"safe_mode_button": 0}}, f)
    os.putenv("TEMPNODE_PINS", '{"0": %d}' % (0 if button_held else 1))


def _package(folder, app=None):
    if folder:
        os.mkdir(folder)
    root = (folder + "/" if folder else "") + "tempnode"
    os.mkdir(root)
    with open(root + "/__init__.py", "w") as f:
        f.write("")
    if app is not None:
        with open(root + "/app.py", "w") as f:
            f.write(app)


def _trial(boots=0, failure=None):
    """A pointer as the switch leaves it: B in ota/a on trial, A the deployed bundle."""
    os.mkdir("ota")
    _package("ota/a", BROKEN_APP)
    slots._state = None
    with open(slots.POINTER, "w") as f:
        json.dump(
            {
                "run": "ota/a",
                "version": "B",
                "previous": "",
                "previous_version": "A",
                "trial": True,
                "boots": boots,
                "failure": failure,
                "rejected": {},
                "report": None,
            },
            f,
        )


def _boot(cause):
    sim_board.reset_cause = cause
    path = list(sys.path)
    slots.choose()
    chosen = sys.path[0] if sys.path != path else ""
    sys.path[:] = path
    return chosen


def _pointer():
    with open(slots.POINTER) as f:
        return json.load(f)


def test_without_a_pointer_the_deployed_bundle_runs_and_nothing_is_written():
    _board()
    _package("")
    assert _boot(PWRON_RESET) == ""
    assert slots.state() is None and not slots.on_trial()
    assert "ota" not in os.listdir()
    assert slots.folders_in_use() == ("",) and slots.free_folder() == "ota/a"


def test_a_version_on_trial_runs_from_its_folder_and_each_reset_counts_a_trial_boot():
    _board()
    _package("")
    _trial()
    assert _boot(HARD_RESET) == "ota/a"
    assert _pointer()["boots"] == 1
    assert _boot(WDT_RESET) == "ota/a"
    assert _pointer()["boots"] == 2
    assert slots.folders_in_use() == ("ota/a", "") and slots.free_folder() == "ota/b"


def test_a_power_on_or_a_deep_sleep_wake_is_not_the_new_version_s_fault():
    _board()
    _package("")
    _trial(boots=2)
    for cause in (PWRON_RESET, DEEPSLEEP_RESET, PWRON_RESET):
        assert _boot(cause) == "ota/a"
    assert _pointer()["boots"] == 2


def test_the_boot_after_the_last_trial_goes_back_and_never_tries_that_version_again():
    _board()
    _package("")
    _trial(boots=3)
    assert _boot(WDT_RESET) == ""  # the deployed bundle: A
    pointer = _pointer()
    assert (pointer["run"], pointer["version"], pointer["trial"]) == ("", "A", False)
    why = "not confirmed in 3 trial boots: the last one ended in a watchdog reset"
    assert pointer["rejected"] == {"B": why}
    assert pointer["report"] == {"version": "B", "outcome": "rolled_back", "reason": why}
    assert slots.folders_in_use() == ("",)  # ota/a may go


def test_the_firmware_s_own_reason_is_the_rollback_s_reason():
    _board()
    _package("")
    _trial(boots=3, failure="not confirmed within 600 s of its boot")
    _boot(HARD_RESET)
    assert _pointer()["rejected"]["B"].endswith(": not confirmed within 600 s of its boot")


def test_a_trial_version_that_fails_to_import_goes_back_at_once():
    _board()
    _package("")
    _trial()
    sim_board.reset_cause = HARD_RESET
    slots.choose()
    try:
        with raises(SystemExit):  # machine.reset() on the simulated board
            slots.start()
    finally:
        sys.path.remove("ota/a")
    pointer = _pointer()
    assert pointer["run"] == "" and pointer["version"] == "A"
    assert (
        pointer["rejected"]["B"]
        == "it failed to start (ImportError: no such module: tempnode.gone)"
    )


def test_the_safe_mode_button_suspends_the_trial_count_and_the_rollback():
    _board(button_held=True)
    _package("")
    _trial(boots=3)
    assert _boot(HARD_RESET) == "ota/a"  # not rolled back, the version that was due runs
    assert _pointer()["boots"] == 3
    sys.path.insert(0, "ota/a")
    try:
        with raises(ImportError):  # at the REPL, for the person holding the button
            slots.start()
    finally:
        sys.path.remove("ota/a")
    assert _pointer()["run"] == "ota/a"


def test_a_folder_without_its_package_falls_back_to_the_deployed_bundle():
    _board()
    _package("")
    _trial()
    os.remove("ota/a/tempnode/__init__.py")
    assert _boot(PWRON_RESET) == ""


def test_switch_confirm_and_reject_keep_the_pointer_s_promises():
    _board()
    slots._state = None
    slots.switch("ota/a", "B", "A")
    assert slots.on_trial() and slots.folders_in_use() == ("ota/a", "")
    slots.confirm()
    state = _pointer()
    assert (state["run"], state["previous"], state["trial"]) == ("ota/a", None, False)
    assert state["report"] == {"version": "B", "outcome": "confirmed"}
    assert slots.folders_in_use() == ("ota/a",) and slots.free_folder() == "ota/b"
    slots.reject("C", "its signature does not verify", "B")
    assert _pointer()["rejected"] == {"C": "its signature does not verify"}
    slots.clear_report()
    assert _pointer()["report"] is None
    assert not [name for name in os.listdir("ota") if name.endswith(".tmp")]
