"""`tempnode flash-micropython`: put MicroPython itself on a board.

ESP32 family and ESP8266: esptool (pinned) with the chip and offset from the board file's
`flash` object: erase the whole flash, then write the image (offset 0x1000 on ESP32 and S2,
0 on S3 and C3; boards-and-micropython.md). Pico W: `mpremote bootloader` reboots it into
BOOTSEL, it shows up as the `RPI-RP2` USB drive, and copying the `.uf2` there flashes it.
`--download` hands the whole job to mpflash, which fetches the firmware from the internet.

The steps are data (`plan`), so tests check them per board without hardware.
"""

import shutil
import subprocess
import sys
import time
from pathlib import Path

from .boards import load_board
from .device import resolve_port
from .errors import UserError

UF2_DRIVE = "RPI-RP2"
DRIVE_WAIT_S = 30
ESPTOOL_BAUD = "460800"
# Where desktops mount a USB drive by its label.
DRIVE_ROOTS = ("/media/*", "/run/media/*", "/media", "/Volumes", "/mnt")
# mpflash's names for our boards (its --board).
MPFLASH_BOARDS = {
    "esp32-devkitc": "ESP32_GENERIC",
    "esp32s3-devkitc": "ESP32_GENERIC_S3",
    "esp32c3-devkitm": "ESP32_GENERIC_C3",
    "nodemcu-esp8266": "ESP8266_GENERIC",
    "pico-w": "RPI_PICO_W",
}


def plan(board, port, firmware):
    """The steps that flash `firmware` onto `board` at `port`: ("run", argv) / ("copy", file)."""
    flash = board["flash"]
    if flash["tool"] == "esptool":
        esptool = [sys.executable, "-m", "esptool", "--chip", flash["chip"], "--port", port]
        return [
            ("run", esptool + ["erase-flash"]),
            (
                "run",
                esptool
                + ["--baud", ESPTOOL_BAUD, "write-flash"]
                + flash.get("extra_args", [])
                + [flash["offset"], str(firmware)],
            ),
        ]
    if flash["tool"] == "uf2":
        return [
            ("run", [sys.executable, "-m", "mpremote", "connect", port, "bootloader"]),
            ("copy", str(firmware)),
        ]
    raise UserError(f"board {board['name']} runs on the host: there is nothing to flash")


def download_plan(board, port):
    if board["name"] not in MPFLASH_BOARDS:
        raise UserError(f"board {board['name']} runs on the host: there is nothing to flash")
    mpflash = [sys.executable, "-m", "mpflash", "flash", "--serial", port]
    return [("run", mpflash + ["--board", MPFLASH_BOARDS[board["name"]], "--version", "stable"])]


def find_drive(label=UF2_DRIVE, roots=DRIVE_ROOTS):
    for root in roots:
        for candidate in Path("/").glob(root.lstrip("/")):
            if (candidate / label).is_dir():
                return candidate / label
    return None


def run_step(argv):

    print("$ " + " ".join(argv[2:] if argv[0] == sys.executable else argv), flush=True)
    try:
        code = subprocess.run(argv).returncode
    except FileNotFoundError:
        raise UserError(f"{argv[0]} is not installed: run `make venv`") from None
    if code != 0:
        raise UserError(
            f"{argv[2] if argv[0] == sys.executable else argv[0]} failed (exit {code})"
        )


def copy_uf2(firmware, wait_s=DRIVE_WAIT_S, finder=find_drive):
    deadline = time.monotonic() + wait_s
    drive = finder()
    while drive is None and time.monotonic() < deadline:
        time.sleep(0.5)
        drive = finder()
    if drive is None:
        raise UserError(
            f"no {UF2_DRIVE} drive appeared within {wait_s} s: hold BOOTSEL while plugging "
            "the Pico W in, mount the drive, and run this again"
        )
    size = Path(firmware).stat().st_size
    print(f"copying {firmware} ({size} B) to {drive} ...", flush=True)
    shutil.copyfile(firmware, drive / Path(firmware).name)
    print("done: the Pico W reboots into MicroPython", flush=True)


def execute(steps, runner=run_step, copier=copy_uf2):
    for number, step in enumerate(steps, 1):
        print(f"[{number}/{len(steps)}]", end=" ", flush=True)
        if step[0] == "run":
            runner(step[1])
        else:
            copier(step[1])


def run(args):
    board = load_board(args.board)
    port = resolve_port(args.port)
    if args.download:
        steps = download_plan(board, port)
    else:
        if args.firmware is None:
            raise UserError("give the MicroPython image with --firmware FILE (or use --download)")
        if not Path(args.firmware).is_file():
            raise UserError(f"no firmware file {args.firmware}")
        steps = plan(board, port, Path(args.firmware))
    execute(steps)


def register(subparsers):
    p = subparsers.add_parser("flash-micropython", help="flash MicroPython itself onto a board")
    p.add_argument("--board", required=True, help="board name from `tempnode boards`")
    p.add_argument("--port", default="auto", help="serial port, or auto (default)")
    p.add_argument("--firmware", help="the MicroPython image: .bin (ESP) or .uf2 (Pico W)")
    p.add_argument("--download", action="store_true", help="let mpflash download and flash")
    p.set_defaults(func=run)
