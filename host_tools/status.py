"""`tempnode status`: the device's state as a table.

`tempnode.state()` on the board returns a dict (clock, Wi-Fi, last upload, spool, token state
without the token, free heap, reset cause; `tempnode.status()` prints the same at the REPL);
nested dicts become dotted rows. Asking stops the logger (mpremote's raw REPL interrupts what
runs), so the board is soft-reset afterwards, as after deploy and provision.
"""

import json

from .device import DeviceError, add_board_arguments, connect
from .errors import UserError
from .validate import default_port

STATUS_CODE = "import json, tempnode\nprint(json.dumps(tempnode.state()))"


def rows(status, prefix=""):
    for key in sorted(status):
        value = status[key]
        if isinstance(value, dict):
            yield from rows(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", "-" if value is None else str(value)


def format_table(status):
    found = list(rows(status))
    width = max((len(k) for k, _ in found), default=0)
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in found)


def read_status(board):
    try:
        out = board.exec(STATUS_CODE)
    except DeviceError as exc:
        missing = "named 'tempnode'" in str(exc) or "attribute 'state'" in str(exc)
        hint = ": deploy the firmware with `tempnode deploy`" if missing else ""
        raise UserError(
            f"the board on {board.port} could not give its status ({exc}){hint}"
        ) from None
    # Lines before the JSON are what status() itself printed.
    lines = out.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        said = lines[-1][:80] if lines else "nothing"
        raise UserError(
            f"the board on {board.port} answered {said!r} instead of its status: "
            "run tempnode status again"
        ) from None


def run(args):
    with connect(default_port(args)) as board:
        status = read_status(board)
        # Reading it stopped the logger (the raw REPL interrupts it): start it again.
        board.soft_reset()
    print(format_table(status) if isinstance(status, dict) else status)
    print("(the board soft-reset after answering: the logger is running again)")


def register(subparsers):
    p = subparsers.add_parser("status", help="show the device's state as a table")
    add_board_arguments(p)
    p.set_defaults(func=run)
