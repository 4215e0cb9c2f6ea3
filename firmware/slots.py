"""Which firmware version a boot runs, the trial of a new one, and the way back.

    slots.choose()   # boot.py: pick the version, count a trial boot or roll back; never raises
    slots.start()    # main.py: import that version's tempnode.app and run it

Where the versions are. The bundle `tempnode deploy` writes (`tempnode/` at the root) is the
first version. An update is staged in a folder of its own, `ota/a` or `ota/b`, each a complete
`tempnode/` package, and runs once the pointer file `ota/boot.json` names that folder: boot.py
puts the folder first on `sys.path`, so `import tempnode` finds that package, and every
submodule is then looked up in that package's own folder. A boot therefore runs one version
complete, never a mix. The pointer is written atomically (a temporary name, then a rename),
and writing it is the only step that changes which version boots.

The pointer: `run` (the folder, "" for the deployed bundle), `version`, `previous` and
`previous_version` (what a rollback goes back to; None once the version is confirmed),
`trial` (true until confirmed), `boots` (trial boots counted), `failure` (why the firmware
ended the last trial boot, when it said), `rejected` ({version: reason}, never tried again)
and `report` (the last update's outcome, carried in batches until the cloud has one).

The trial. Every boot of a version on trial counts, except a power-on and a deep-sleep wake
(a power cut is not the new version's fault); the boot after `TRIAL_BOOTS` counted ones goes
back to the previous version instead, and so does a trial boot whose `tempnode.app` fails to
import, raises at start, or returns to the REPL without starting its logger. The firmware
confirms the version (`confirm`) once it has sampled and the cloud has confirmed an upload,
and resets the board when that does not happen in time (`tempnode.ota`). The safe-mode button
held at boot suspends all of it: nothing is counted or rolled back.

This module, boot.py and main.py are the board's own: an update never replaces them (only
`tempnode deploy` does), so the code that picks a version is never half updated, and it
imports nothing from the `tempnode` package it is choosing.
"""

import json
import os
import sys

from micropython import const

POINTER = "ota/boot.json"
FOLDERS = ("ota/a", "ota/b")
STAGE_FILE = "ota/stage.json"  # tempnode.staging's record of a download under way
TRIAL_BOOTS = const(3)
_REJECTED_KEPT = const(8)
_TMP_SUFFIX = ".tmp"

_state = None  # the pointer as this boot left it (None: no update has ever run)
_button = False  # the safe-mode button was held at boot


def choose():
    """boot.py: put the folder of the version this boot runs first on sys.path."""
    global _state
    try:
        _state = _choose()
    except Exception as e:  # noqa: BLE001 - boot.py must never fail: the REPL stays reachable
        _log("boot: cannot read the update pointer (%r); starting the deployed bundle" % e)
        _state = None


def start():
    """main.py: run the chosen version; on trial, a version that cannot start is rolled back."""
    try:
        import tempnode.app as app
        from tempnode.version import VERSION

        _log("boot: firmware %s (%s)" % (VERSION, running_folder() or "the deployed bundle"))
        app.main()
    except Exception as e:  # noqa: BLE001 - a version on trial that fails here goes back
        if not on_trial() or _button:
            raise
        _roll_back("it failed to start (%s)" % _first_line(e))
        _reset()
        return
    if on_trial() and not _button and app.assemble().loop is None:
        _roll_back("it stopped at the REPL without starting the logger")
        _reset()


def state():
    """The pointer as it stands (a dict), or None before the first update."""
    return _state


def on_trial():
    return bool(_state and _state.get("trial"))


def running_folder():
    return _state["run"] if _state else ""


def staging_in_progress():
    return _exists(STAGE_FILE)


def free_folder():
    """The folder an update may be staged in: the one the pointer does not run from."""
    run = running_folder()
    return FOLDERS[1] if run == FOLDERS[0] else FOLDERS[0]


def switch(folder, version, running_version):
    """Make `version`, complete in `folder`, the one the next boot runs, on trial."""
    new = dict(_state) if _state else _first_pointer(running_version)
    new.update(
        previous=new["run"],
        previous_version=running_version,
        run=folder,
        version=version,
        trial=True,
        boots=0,
        failure=None,
        report=None,
    )
    _write(new)


def confirm():
    """The version on trial is good: keep it, forget the previous one (its files may go)."""
    report = {"version": (_state or {}).get("version"), "outcome": "confirmed"}
    _change(
        previous=None, previous_version=None, trial=False, boots=0, failure=None, report=report
    )


def note_failure(reason):
    """Why the firmware is ending this trial boot (read if the trial runs out)."""
    _change(failure=reason)


def reject(version, reason, running_version):
    """Never try `version`: it was refused before it could run (bad signature, damaged)."""
    new = dict(_state) if _state else _first_pointer(running_version)
    rejected = dict(new.get("rejected") or {})
    _forget_oldest(rejected)
    rejected[version] = reason
    new["rejected"] = rejected
    _write(new)


def clear_report():
    _change(report=None)


def _change(**fields):
    new = dict(_state or {})
    new.update(fields)
    _write(new)


def folders_in_use():
    """The folders (and "" for the deployed bundle) the pointer may still boot."""
    if _state is None:
        return ("",)
    used = (_state["run"],)
    return used + (_state["previous"],) if _state.get("previous") is not None else used


def button_held(pin_spec):
    """True while the safe-mode button is pressed (all supported buttons pull to ground)."""
    if pin_spec == "BOOTSEL":
        import rp2  # type: ignore[import-not-found]  # rp2 port only

        return bool(rp2.bootsel_button())
    import machine

    # Same as tempnode.board.make_pin, which this module cannot import (see the docstring).
    return machine.Pin(pin_spec, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0


def _choose():
    global _button
    state = _read_pointer()
    if state is None:
        return None
    _button = _safe_mode_button()
    if state.get("trial") and not _button and _counts():
        state["boots"] += 1
        if state["boots"] > TRIAL_BOOTS:
            why = state.get("failure") or "the last one ended in a %s" % _cause()
            state = _rolled_back(state, "not confirmed in %d trial boots: %s" % (TRIAL_BOOTS, why))
        else:
            _log(
                "update: trying version %s (trial boot %d of %d)"
                % (state["version"], state["boots"], TRIAL_BOOTS)
            )
        _write_file(state)
    if not _has_package(state["run"]):
        _log("boot: %s has no tempnode package; starting the deployed bundle" % state["run"])
        return state
    if state["run"]:
        sys.path.insert(0, state["run"])
    return state


def _roll_back(reason):
    global _state
    _state = _rolled_back(_state, reason)
    _write_file(_state)


def _rolled_back(state, reason):
    version = state["version"]
    rejected = dict(state.get("rejected") or {})
    _forget_oldest(rejected)
    rejected[version] = reason
    _log(
        "update: version %s %s; going back to version %s, and not trying %s again"
        % (version, reason, state["previous_version"], version)
    )
    new = dict(state)
    new.update(
        run=state["previous"],
        version=state["previous_version"],
        previous=None,
        previous_version=None,
        trial=False,
        boots=0,
        failure=None,
        rejected=rejected,
        report={"version": version, "outcome": "rolled_back", "reason": reason},
    )
    return new


def _forget_oldest(rejected):
    # Kept short (the pointer is read at every boot); versions sort roughly by age.
    if len(rejected) >= _REJECTED_KEPT:
        rejected.pop(sorted(rejected)[0])


def _first_pointer(running_version):
    """The pointer of a board that runs its deployed bundle and has no update yet."""
    return {
        "run": "",
        "version": running_version,
        "previous": None,
        "previous_version": None,
        "trial": False,
        "boots": 0,
        "failure": None,
        "rejected": {},
        "report": None,
    }


def _read_pointer():
    try:
        with open(POINTER) as f:
            return json.load(f)
    except OSError:
        return None  # no update has ever been switched to


def _write(new):
    global _state
    _write_file(new)
    _state = new


def _write_file(state):
    # The pointer write that decides what boots: temporary file, close, rename (atomic on
    # littlefs). tempnode.atomic does the same but lives in the package this module chooses.
    tmp = POINTER + _TMP_SUFFIX
    try:
        os.mkdir(POINTER.rsplit("/", 1)[0])
    except OSError:
        pass  # it is there already
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.rename(tmp, POINTER)


def _has_package(folder):
    prefix = folder + "/" if folder else ""
    return _exists(prefix + "tempnode/__init__.mpy") or _exists(prefix + "tempnode/__init__.py")


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _safe_mode_button():
    try:
        with open("board.json") as f:
            spec = json.load(f)["pins"]["safe_mode_button"]
        return button_held(spec)
    except Exception:  # noqa: BLE001 - no readable button: nobody is holding it
        return False


def _counts():
    import machine

    cause = machine.reset_cause()
    return cause not in (machine.PWRON_RESET, getattr(machine, "DEEPSLEEP_RESET", None))


def _cause():
    import machine

    cause = machine.reset_cause()
    if cause == machine.WDT_RESET:
        return "watchdog reset"
    return "reset (a crash, or the firmware resetting the board)"


def _reset():
    import machine

    machine.reset()


def _first_line(error):
    text = "%s: %s" % (type(error).__name__, error)
    return text.split("\n", 1)[0]


def _log(line):
    print("tempnode: " + line)
