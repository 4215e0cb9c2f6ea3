"""Signed updates on the simulated board: firmware variants to publish, boards that take them.

    variant = firmware_variant(tmp_path, "b", {"tempnode/main_loop.py": [(old, new)]})
    board = ota_board(installed, tmp_path, "ota-a-to-b", scenario={...})
    version = board.publish(variant)          # `tempnode release publish`, on its own channel
    facts = board.run()                       # tempnode sim's census
    board.versions()                          # the version each boot ran, from its console

Each board is a fresh device of the dev cloud (its own readings, its own refresh token) on a
copy of the installed flash image, listening on a channel of its own, so tests that share a
cloud do not see each other's releases.
"""

import dataclasses
import json
import re
import shutil
import sqlite3
from pathlib import Path

from field_board import FieldBoard, count

from host_tools.deploy import board_config, compact_json
from host_tools.paths import FIRMWARE
from host_tools.provision import credential_from
from host_tools.release import publish

LOGGING = "tempnode: logging every"
B_MARK = " (B:"  # every variant's logger adds " (B:<name>)" to its first console line
_TRIAL = re.compile(r"update: trying version (\S+) \(trial boot (\d) of 3\)")
_STAMP = re.compile(r"\[d(\d+) (\d\d):(\d\d):(\d\d)\] ")


def firmware_variant(work, name, edits=None):
    """A copy of firmware/ whose logger announces itself with B_MARK and `name` (so each
    variant is a version of its own), plus `edits`: {relative path: [(old, new), ...]}."""
    root = Path(work) / f"firmware-{name}"
    shutil.copytree(FIRMWARE, root, ignore=shutil.ignore_patterns("__pycache__"))
    edits = dict(edits or {})
    marker = (
        '"logging every %d s, uploading every %d s"',
        f'"logging every %d s, uploading every %d s{B_MARK}{name})"',
    )
    edits.setdefault("tempnode/main_loop.py", []).append(marker)
    for rel, replacements in edits.items():
        path = root / rel
        text = path.read_text()
        for old, new in replacements:
            assert old in text, f"{rel} has no {old!r}"
            text = text.replace(old, new)
        path.write_text(text)
    return root


class OtaBoard(FieldBoard):
    """A FieldBoard of its own device and update channel."""

    def __init__(self, installed, work, name, scenario=None, files=None, channel=None):
        admin = installed.cloud.admin
        registered = admin.create_device(name, "oauth2", rotation="off")
        folder = Path(work) / "device"
        shutil.copytree(installed.image.parent / "device", folder)
        config = json.loads((folder / "config.json").read_text())
        config["device_id"] = registered["device_id"]
        config.setdefault("ota", {})["channel"] = channel or name
        (folder / "config.json").write_text(json.dumps(config))
        self.folder = folder
        self.channel = config["ota"]["channel"]
        own = {
            "config.json": compact_json(board_config(folder)),
            "credential.json": compact_json(credential_from(registered["credential"])),
        }
        super().__init__(
            dataclasses.replace(installed, device_id=registered["device_id"]),
            work,
            files=own | (files or {}),
            scenario=scenario,
        )
        self.stamped = []  # "[d0 00:01:02] line": the console with virtual time
        self.sim.out = self.stamped.append
        self.stopped_at = []  # console lines when each run's end stopped the board
        stop = self.sim._stop

        def stopping(proc):
            self.stopped_at.append(len(self.sim.console))
            stop(proc)

        self.sim._stop = stopping

    def firmware_lines(self):
        """The console of the firmware's own doing: not what a board printed after its power
        was cut (a dying board's code changes nothing; the unix port may still print the
        SystemExit the simulated flash raises), nor after the run's end sent Ctrl-C (the
        logger's closing lines and the REPL's)."""
        lines = self.lines[: self.stopped_at[-1]] if self.stopped_at else self.lines
        kept, dying = [], False
        for line in lines:
            if "board: power cut at flash write" in line:
                dying = True
            elif "tempnode: boot: firmware" in line:
                dying = False
            if not dying:
                kept.append(line)
        return kept

    def seconds_at(self, text, after=0):
        """Virtual seconds into the run of the first console line holding `text`."""
        for line in self.stamped[after:]:
            found = _STAMP.match(line)
            if found and text in line:
                days, hours, minutes, seconds = map(int, found.groups())
                return ((days * 24 + hours) * 60 + minutes) * 60 + seconds
        raise AssertionError(f"no console line holds {text!r}")

    def publish(self, firmware_root, channel=None):
        return publish(
            self.folder,
            channel or self.channel,
            self.installed.cloud.admin,
            firmware_root,
            out=lambda line: None,
        )

    def trial_boots(self):
        """[(version, trial boot)] in boot order, from the console."""
        return [m.groups() for m in map(_TRIAL.search, self.lines) if m]

    def count(self, text):
        return count(self.lines, text)


def ota_board(installed, work, name, scenario=None, files=None, channel=None):
    return OtaBoard(installed, work, name, scenario, files, channel)


def cloud_db(installed):
    """The dev cloud's database (the cloud runs in its own process; SQLite takes both)."""
    return sqlite3.connect(installed.cloud.info["data_dir"] + "/cloud.sqlite3", timeout=10)


def sample_gaps_ms(board):
    """Milliseconds between consecutive samples (each shows one LED pattern when it is taken)."""
    starts = board.led_pattern_starts()
    return [b - a for a, b in zip(starts, starts[1:], strict=False)]
