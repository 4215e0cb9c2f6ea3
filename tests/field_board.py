"""The real firmware on the simulated board, for the field tests (bad days, safe mode).

    @pytest.fixture(scope="module")
    def installed(tmp_path_factory): ...          # field_board.install_once(...)
    board = FieldBoard(installed, tmp_path, files={"boot.py": CRASH}, scenario={...})
    facts = board.run()            # `tempnode sim`'s Run: boots until the REPL or duration_s
    status = board.boot()          # exactly one boot; its exit status (boards/host/resets.py)
    board.lines, board.led_bursts()

Installing (`host_tools.sim.install`: deploy and provision over mpremote) takes seconds, so it
is done once; each test gets a copy of that flash image, edited by `put_files` (MicroPython's
own littlefs on the image, no REPL round trips). Every boot runs in virtual time shared with a
dev cloud (`tempnode cloud serve`).
"""

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from host_tools import boards
from host_tools.cloud import process as cloud_process
from host_tools.paths import BOARDS
from host_tools.provision import credential_from
from host_tools.sim import Run, install, write_device_folder
from host_tools.virtual_board import LAUNCHER, micropython_binary

BLOCK_SIZE = 4096
HOST_BOARD = boards.load_board("host")
LED_PIN = str(HOST_BOARD["pins"]["status_led"])
BUTTON_PIN = str(HOST_BOARD["pins"]["safe_mode_button"])
SENSOR = {"family": "28", "serial": "0000000f0001", "label": "tank"}
BASE_SCENARIO = {
    "duration_s": 300,
    "seed": 6,
    "config": {"sample_interval_s": 30, "upload": {"interval_s": 60, "batch_size": 50}},
    "sensors": [SENSOR],
    "wifi": [{"ssid": "field-wifi", "password": "field-wifi-password"}],
}

# Runs on the board (MicroPython): `files` maps a path on the flash to its new bytes, or to
# None to remove it.
_PUT_FILES = """
import os, sys, vfs
sys.path[:0] = [{board!r}]
from sim_flash import SimFlash
vfs.mount(vfs.VfsLfs2(SimFlash.open({image!r}, {block}, {blocks})), "/flash")
for name, data in {files!r}.items():
    path = "/flash/" + name
    if data is None:
        os.remove(path)
    else:
        with open(path, "wb") as f:
            f.write(data)
"""


def put_files(image, files):
    """Write (bytes) or remove (None) files on a flash image while no board runs."""
    code = _PUT_FILES.format(
        board=str(BOARDS / "host"),
        image=str(image),
        block=BLOCK_SIZE,
        blocks=HOST_BOARD["filesystem_kb"] * 1024 // BLOCK_SIZE,
        files={name: _bytes(data) for name, data in files.items()},
    )
    subprocess.run(
        [micropython_binary(), "-X", "heapsize=512k", "-c", code],
        check=True,
        capture_output=True,
        env=dict(os.environ, MICROPYPATH=str(LAUNCHER.parent)),
        timeout=30,
    )


def _bytes(data):
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    return json.dumps(data).encode()


@dataclass
class Installed:
    cloud: cloud_process.CloudProcess
    device_id: str
    image: Path
    config: dict


def start_cloud(work):
    """A dev cloud in its own process, sharing its virtual clock file with the boards."""
    return cloud_process.spawn(Path(work) / "cloud", vclock=Path(work) / "cloud" / "vclock.bin")


def install_device(cloud, work, device_id):
    """A device registered in `cloud` and a flash image with the firmware, its config and
    credential. Rotation off: every copy of the image starts from the same refresh token.
    The cloud keeps one reading per seq, so a test that counts readings in the cloud uses a
    device of its own (each copy's spool starts at seq 0)."""
    work = Path(work)
    registered = cloud.admin.create_device(device_id, "oauth2", rotation="off")
    config = write_device_folder(work / "device", BASE_SCENARIO, cloud.info, registered)
    install(work, work / "device", work / "flash.img", credential_from(registered["credential"]))
    return Installed(cloud, registered["device_id"], work / "flash.img", config)


class FieldBoard:
    """A copy of the installed board, its console and its status LED's trace."""

    def __init__(self, installed, work, files=None, scenario=None):
        self.installed = installed
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(installed.image, self.work / "flash.img")
        if files:
            put_files(self.work / "flash.img", files)
        self.trace_file = self.work / "pins.trace"
        self.env = {"TEMPNODE_PIN_TRACE": str(self.trace_file)}
        self.sim = Run(
            BASE_SCENARIO | (scenario or {}),
            self.work,
            installed.cloud.info,
            installed.device_id,
            out=lambda line: None,
        )
        (self.work / "scenario.json").write_text(json.dumps(self.sim.scenario))

    @property
    def lines(self):
        return self.sim.console

    def run(self, **env):
        """Boots until one ends at the REPL or the scenario's time is up: the census."""
        with mock.patch.dict(os.environ, self.env | env):
            return self.sim.run()

    def boot(self, **env):
        """One boot; its exit status (None if the scenario's time ran out during it)."""
        with mock.patch.dict(os.environ, self.env | env):
            return self.sim._boot()

    def led_levels(self):
        """[(virtual ms, level)] of the status LED, one entry per change of level."""
        levels = []
        if self.trace_file.exists():
            for line in self.trace_file.read_text().splitlines():
                ms, pin, level = line.split()
                if pin == LED_PIN and (not levels or levels[-1][1] != int(level)):
                    levels.append((int(ms), int(level)))
        return levels

    def led_bursts(self, gap_ms=300):
        """The LED's blinks grouped into patterns: [[on_ms, ...], ...]; a blink that starts
        more than `gap_ms` after the previous one ended starts a new pattern."""
        return [blinks for _start, blinks in self._patterns(gap_ms)]

    def led_pattern_starts(self, gap_ms=300):
        """The virtual ms at which each LED pattern began (the logger shows one per sample)."""
        return [start for start, _blinks in self._patterns(gap_ms)]

    def _patterns(self, gap_ms):
        patterns = []
        levels = self.led_levels()
        last_off = None
        for (start, level), (end, _) in zip(levels, levels[1:], strict=False):
            if level != 1:
                continue
            if last_off is None or start - last_off > gap_ms:
                patterns.append((start, []))
            patterns[-1][1].append(end - start)
            last_off = end
        return patterns

    def cloud_readings(self):
        return self.installed.cloud.admin.readings(self.installed.device_id)


def count(lines, text):
    return sum(text in line for line in lines)
