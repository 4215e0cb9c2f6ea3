"""The serial link to a board, on mpremote's Python API: find the port, open it, run code.

Every way a connection fails becomes one `UserError` sentence: no such port, a port another
program holds, a port where no MicroPython answers, a MicroPython that cannot run this build.
"""

import ast
import contextlib
import fcntl
import io
import os
import termios
import time
from pathlib import Path

import serial.tools.list_ports
from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

from . import practice_board
from .errors import UserError

# Seconds for a board to answer Ctrl-C / Ctrl-A with the raw REPL banner (mpremote's default).
REPL_TIMEOUT_S = 10
_BUSY_GRACE_S = 1.0
# `sys.platform` each board-file port reports.
PLATFORMS = {"esp32": ("esp32",), "rp2": ("rp2",), "esp8266": ("esp8266",), "unix": ("linux",)}
# Port option help, shared by every command that talks to a board.
PORT_HELP = (
    "serial port of the board, `auto` for the only one connected, or `practice` for the "
    "practice board (default: the port `tempnode init` recorded, else auto)"
)

FACTS = "(sys.platform, tuple(sys.implementation.version[:3]), sys.implementation._mpy)"


def usb_ports():
    """Serial ports with a USB vendor id: the ones a board can be on."""
    return sorted(p.device for p in serial.tools.list_ports.comports() if p.vid is not None)


def resolve_port(port):
    """`auto` becomes the only connected board's port, `practice` the practice board's; a
    named port must exist."""
    if port == practice_board.PORT_NAME:
        return practice_board.running_port()
    if port != "auto":
        if not os.path.exists(port):
            raise UserError(f"no serial port {port}: plug the board in, or use --port auto")
        return port
    found = usb_ports()
    if len(found) == 1:
        return found[0]
    if not found:
        raise UserError("no board found on USB: plug one in (or name its port with --port)")
    raise UserError(f"{len(found)} boards connected ({', '.join(found)}): pick one with --port")


def _check_serial_port(port):
    """Say what is wrong with `port` before pyserial reduces it to "failed to access": not a
    terminal device at all, or held by another program (pyserial's exclusive open is a
    `flock`, so the same lock tells)."""
    if not os.access(port, os.R_OK | os.W_OK):
        raise UserError(f"no permission to open {port}: add your user to the dialout group")
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        termios.tcgetattr(fd)
    except termios.error:
        raise UserError(
            f"{port} is not a serial port: name the board's port (/dev/ttyUSB0, "
            "/dev/ttyACM0...), or use --port auto"
        ) from None
    else:
        # A lock is held a moment after its holder closes the port when a process forked
        # meanwhile (the lock belongs to the open file, which the child shares until it
        # execs): only a lock that stays means another program.
        give_up = time.monotonic() + _BUSY_GRACE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= give_up:
                    raise UserError(
                        f"{port} is busy: another program (a serial monitor, mpremote, "
                        "`tempnode logs`) has it open; close it and retry"
                    ) from None
                time.sleep(0.05)
    finally:
        os.close(fd)  # and with it the lock taken here


def open_serial(port):
    """An open SerialTransport on `port`, not yet in the raw REPL."""
    port = resolve_port(port)
    _check_serial_port(port)
    try:
        # A read timeout keeps every mpremote wait bounded, on ptys too.
        return SerialTransport(port, baudrate=115200, timeout=REPL_TIMEOUT_S)
    except TransportError as exc:
        raise UserError(f"cannot open {port} ({exc}): check the cable and --port") from None


class Board:
    """A board in the raw REPL: run code, read and write files."""

    def __init__(self, transport):
        self.transport = transport
        self.port = transport.device_name

    def exec(self, code, timeout=10):
        """Run `code` on the board and return what it printed; a device error is a UserError."""
        try:
            out, err = self.transport.exec_raw(code, timeout=timeout)
        except TransportError as exc:
            raise UserError(f"lost the board on {self.port} ({exc}): check the cable") from None
        if err:
            last = err.decode(errors="replace").strip().splitlines()[-1]
            raise DeviceError(last)
        return out.decode(errors="replace")

    def eval(self, expression):
        return ast.literal_eval(self.exec(f"print(repr({expression}))").strip())

    def facts(self):
        """(sys.platform, MicroPython version tuple, mpy version text like '6.3')."""
        self.exec("import sys")
        platform, version, mpy = self.eval(FACTS)
        return platform, version, f"{mpy & 0xFF}.{(mpy >> 8) & 3}"

    def check_runs(self, board):
        """Refuse a board whose port or mpy version cannot run a build for `board`."""
        platform, version, mpy = self.facts()
        expected = PLATFORMS[board["port"]]
        if platform not in expected:
            raise UserError(
                f"the board on {self.port} runs MicroPython for {platform}, but "
                f"{board['name']} is a {board['port']} board: check config.json's board"
            )
        if mpy != board["mpy_version"]:
            dotted = ".".join(str(v) for v in version)
            raise UserError(
                f"the board on {self.port} runs MicroPython {dotted} (mpy v{mpy}) but this "
                f"build needs mpy v{board['mpy_version']}: update it with "
                "`tempnode flash-micropython`"
            )

    def soft_reset(self):
        """Leave the raw REPL and soft-reset, as a board does at power-on: boot.py, main.py."""
        self.transport.exit_raw_repl()
        self.transport.serial.write(b"\x04")


class DeviceError(UserError):
    """Code run on the board raised; the message is the board's last traceback line."""


@contextlib.contextmanager
def connect(port):
    """A `Board` in the raw REPL on `port` (interrupting whatever runs), closed afterwards."""
    transport = open_serial(port)
    try:
        # mpremote prints what it got when the banner does not come: keep that off our output.
        with contextlib.redirect_stdout(io.StringIO()):
            transport.enter_raw_repl(soft_reset=False, timeout_overall=REPL_TIMEOUT_S)
    except TransportError:
        transport.close()
        raise UserError(
            f"no MicroPython REPL answered on {transport.device_name}: flash MicroPython "
            "with `tempnode flash-micropython`, or check --port"
        ) from None
    board = Board(transport)
    try:
        yield board
    finally:
        with contextlib.suppress(OSError, TransportError):
            if transport.in_raw_repl:
                transport.exit_raw_repl()
        transport.close()


def add_board_arguments(parser):
    """--dir (the device folder) and --port (where its board is), for commands on a board."""
    add_dir_argument(parser)
    parser.add_argument("--port", help=PORT_HELP)


def add_dir_argument(parser):
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("."),
        help="the device folder `tempnode init` made (default: the current folder)",
    )
