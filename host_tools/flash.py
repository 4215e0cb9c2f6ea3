"""`tempnode flash-micropython`: put MicroPython itself on a board.

ESP32 family and ESP8266: esptool (pinned) with the chip and offset from the board file's
`flash` object: erase the whole flash, then write the image (offset 0x1000 on ESP32 and S2,
0 on S3 and C3; boards-and-micropython.md). Pico W: `mpremote bootloader` reboots it into
BOOTSEL, it shows up as the `RPI-RP2` USB drive, and copying the `.uf2` there flashes it.

Nothing is erased before the image is known to be one for the board's chip (`check_image`):
an ESP image is parsed by esptool itself (its magic byte, and the chip id of the extended
header on the ESP32 family; ESP8266 images have no chip id), a UF2 file by its block magics
and family id. tempnode does not
download images (that needs the internet, which no test here has): the README says where.

The steps are data (`plan`), so tests check them per board without hardware.
"""

import contextlib
import io
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

from esptool.bin_image import LoadFirmwareImage
from esptool.util import FatalError

from .boards import load_board
from .device import resolve_port
from .errors import UserError

# UF2 (github.com/microsoft/uf2, "File format"): 512-byte blocks, two magics at offsets 0 and 4,
# flags at 8 (0x2000: the family id is at offset 28).
UF2_MAGICS = (0x0A324655, 0x9E5D5157)
UF2_FAMILY_FLAG = 0x2000
UF2_FAMILIES = {"rp2040": 0xE48BFF56}  # board file `chip` -> UF2 family id

UF2_DRIVE = "RPI-RP2"
DRIVE_WAIT_S = 30
ESPTOOL_BAUD = "460800"
# Where desktops mount a USB drive by its label.
DRIVE_ROOTS = ("/media/*", "/run/media/*", "/media", "/Volumes", "/mnt")


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


def check_image(board, firmware):
    """Refuse an image that is not for `board`'s chip, before anything touches the board."""
    data = Path(firmware).read_bytes()
    tool, chip = board["flash"]["tool"], board["chip"]
    if tool == "uf2":
        problem = _uf2_problem(data, UF2_FAMILIES.get(chip))
    elif tool == "esptool":
        problem = _esp_problem(data, chip)
    else:
        raise UserError(f"board {board['name']} runs on the host: there is nothing to flash")
    if problem:
        raise UserError(
            f"{firmware} is {problem}, expected a MicroPython image for {chip} "
            f"({board['name']}): nothing was written to the board"
        )


def _uf2_problem(data, family):
    if len(data) < 512 or len(data) % 512:
        return "not a UF2 file (not whole 512-byte blocks)"
    if struct.unpack_from("<II", data) != UF2_MAGICS:
        return "not a UF2 file (no UF2 block magic)"
    flags, found = struct.unpack_from("<I", data, 8)[0], struct.unpack_from("<I", data, 28)[0]
    if family is not None and flags & UF2_FAMILY_FLAG and found != family:
        return f"a UF2 file for family 0x{found:08x}, not 0x{family:08x}"
    return None


def _esp_problem(data, chip):
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # esptool's own warnings
            image = LoadFirmwareImage(chip, data)
    except (FatalError, struct.error, ValueError) as exc:
        return f"not an image for {chip} ({exc})"
    expected = getattr(image, "ROM_LOADER", None)
    wanted = getattr(expected, "IMAGE_CHIP_ID", None)
    found = getattr(image, "chip_id", None)
    if wanted is not None and found != wanted:
        return f"an image for chip id {found}, not {chip}'s {wanted}"
    return None


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
    # What can be checked without the board comes first: the file, then the port.
    if not Path(args.firmware).is_file():
        raise UserError(f"no firmware file {args.firmware}")
    check_image(board, args.firmware)
    execute(plan(board, resolve_port(args.port), Path(args.firmware)))


def register(subparsers):
    p = subparsers.add_parser("flash-micropython", help="flash MicroPython itself onto a board")
    p.add_argument("--board", required=True, help="board name from `tempnode boards`")
    p.add_argument("--port", default="auto", help="serial port, or auto (default)")
    p.add_argument(
        "--firmware",
        required=True,
        help="the MicroPython image from micropython.org/download: .bin (ESP) or .uf2 (Pico W)",
    )
    p.set_defaults(func=run)
