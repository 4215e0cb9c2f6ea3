"""`tempnode practice-board`: a board to learn on, with no hardware: real time, Wi-Fi, sensors.

    tempnode practice-board                       # in a terminal of its own; Ctrl-C ends it
    tempnode deploy --dir logger-01 --port practice

It is the simulated board of `tempnode sim` (`boards/host`: the firmware unmodified on the
MicroPython unix port, a littlefs flash image, the 1-Wire simulator, a Wi-Fi station) on a
pseudo-terminal (`virtual_board.py`), so mpremote and every `tempnode` board command talk to
it as to a board on USB. Unlike a scenario run its sleeps take real time
(`TEMPNODE_REALTIME`), and its air and bus are fixed (`PRACTICE_SCENARIO`): one Wi-Fi network
and two DS18B20 sensors. It shares the dev cloud's clock file (`cloud_dir()/vclock.bin`), so
it and the cloud agree on the time even after `tempnode sim` has moved it ahead.

Commands find it by the port name `practice`: while it runs, the pty it serves on is in
`<data home>/practice-board/port.json`, under a lock (one practice board at a time). Its
flash image stays in that folder, so what was deployed is still there next time; `--erase`
starts from a blank flash, like a new board.
"""

import json
import signal
import sys
import time

from . import folder_lock
from .errors import UserError
from .paths import cloud_dir, data_home

PORT_NAME = "practice"  # what --port takes to mean this board
LOCK_NAME = "board"
STATE_FILE = "port.json"
WIFI = {"ssid": "practice-wifi", "password": "practice-wifi-password", "rssi": -58}
PRACTICE_SCENARIO = {
    "seed": 7,
    "wifi": [WIFI],
    "sensors": [
        {
            "family": "28",
            "serial": "0000005e0a01",
            "conversion_ms": 600,
            "temperature": {"kind": "sine", "mean_c": 21.0, "amplitude_c": 1.5, "period_s": 600},
        },
        {
            "family": "28",
            "serial": "0000005e0a02",
            "conversion_ms": 610,
            "temperature": {"kind": "sine", "mean_c": 8.0, "amplitude_c": 3.0, "period_s": 3600},
        },
    ],
}


def folder():
    return data_home() / "practice-board"


def sensor_roms():
    """The ROMs of the practice board's sensors, as `tempnode init --sensor` takes them."""
    from .sim import host_board_module  # the simulator's modules, only when asked

    onewire_sim = host_board_module("onewire_sim")
    seed = PRACTICE_SCENARIO["seed"]
    return [
        onewire_sim.Device(spec, seed + index).rom_hex()
        for index, spec in enumerate(PRACTICE_SCENARIO["sensors"])
    ]


def running_port():
    """The pty of the practice board that runs now; a UserError when none does."""
    here = folder()
    if not folder_lock.held(here, LOCK_NAME):
        raise UserError(
            "no practice board is running: start one with `tempnode practice-board` "
            "in another terminal"
        )
    return json.loads((here / STATE_FILE).read_text())["port"]


def board_env(here):
    (here / "scenario.json").write_text(json.dumps(PRACTICE_SCENARIO))
    env = {"TEMPNODE_REALTIME": "1", "TEMPNODE_SCENARIO": str(here / "scenario.json")}
    vclock = cloud_dir() / "vclock.bin"
    if vclock.exists():
        env["TEMPNODE_VCLOCK"] = str(vclock)
    return env


def serve(erase=False):
    """Run the practice board until Ctrl-C."""
    from .virtual_board import VirtualBoard

    here = folder()
    here.mkdir(parents=True, exist_ok=True)
    lock = folder_lock.hold(here, LOCK_NAME)
    if lock is None:
        raise UserError(f"a practice board is running already (on {running_port()})")
    # Turned off by a signal as by Ctrl-C: the board process goes with it, the lock is freed.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(0))
    try:
        flash = here / "flash.img"
        if erase:
            for stale in here.glob("flash.img*"):
                stale.unlink()
        board = VirtualBoard(here, flash, env=board_env(here), drop_unread_output=True)
        with board:
            (here / STATE_FILE).write_text(json.dumps({"port": board.port}) + "\n")
            roms = ", ".join(sensor_roms())
            print(
                f"practice board on {board.port}: commands reach it with --port {PORT_NAME}\n"
                f"  Wi-Fi network {WIFI['ssid']}, password {WIFI['password']}\n"
                f"  sensors {roms}\n"
                f"  flash image {flash}\n"
                "  Ctrl-C turns it off",
                flush=True,
            )
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                print("practice board: off")
    finally:
        (here / STATE_FILE).unlink(missing_ok=True)
        folder_lock.release(lock)


def run(args):
    serve(args.erase)


def register(subparsers):
    p = subparsers.add_parser(
        "practice-board",
        help="run a simulated board in real time, with Wi-Fi and sensors (--port practice)",
    )
    p.add_argument("--erase", action="store_true", help="start from a blank flash")
    p.set_defaults(func=run)
