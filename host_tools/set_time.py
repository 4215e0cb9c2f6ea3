"""`tempnode set-time`: set the board's RTC to the host's UTC time.

The firmware never trusts the RTC alone (it learns wall time from NTP or the cloud's `Date`
header), but a set RTC gives readings a time before the first upload on a bench.
`machine.RTC().datetime()` takes (year, month, day, weekday 0=Monday, hours, minutes, seconds,
subseconds).
"""

import datetime

from .device import DeviceError, add_board_arguments, connect
from .errors import UserError
from .validate import default_port


def rtc_tuple(now):
    return (now.year, now.month, now.day, now.weekday(), now.hour, now.minute, now.second, 0)


def run(args):
    with connect(default_port(args)) as board:
        now = datetime.datetime.now(datetime.UTC)
        try:
            before = board.eval("__import__('time').localtime()[:6]")
            board.exec(f"import machine\nmachine.RTC().datetime({rtc_tuple(now)!r})")
            after = board.eval("__import__('time').localtime()[:6]")
        except DeviceError as exc:
            raise UserError(f"the board on {board.port} cannot set its clock ({exc})") from None
        board.soft_reset()  # the raw REPL stopped the logger: start it again (the RTC stays)
    show = "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}".format
    print(f"board clock was {show(*before)}, now {show(*after)} UTC")


def register(subparsers):
    p = subparsers.add_parser("set-time", help="set the board's RTC from this computer (UTC)")
    add_board_arguments(p)
    p.set_defaults(func=run)
