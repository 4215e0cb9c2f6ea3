"""The board catalogue: one JSON file per board in `boards/`, checked field by field."""

import json
import re

from .errors import UserError
from .paths import BOARDS

PORTS = ("esp32", "rp2", "esp8266", "unix")
MPY_ARCHS = ("x64", "armv6m", "armv7m", "armv7emsp", "xtensa", "xtensawin", "rv32imc")
FLASH_TOOLS = ("esptool", "uf2", "none")


def _text(v):
    return isinstance(v, str) and v.strip() != ""


def _pin(v):
    return (isinstance(v, int) and not isinstance(v, bool) and v >= 0) or _text(v)


def _count(minimum):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _one_of(choices):
    return lambda v: v in choices


# (dotted field, check, what is expected): the catalogue's schema, as data.
SCHEMA = (
    ("name", _text, "the file's name without .json"),
    ("title", _text, "a human-readable board name"),
    ("port", _one_of(PORTS), "one of " + ", ".join(PORTS)),
    ("chip", _text, "the chip name, e.g. esp32s3"),
    ("mpy_version", lambda v: isinstance(v, str) and re.fullmatch(r"\d+\.\d+", v), "like 6.3"),
    ("mpy_arch", _one_of(MPY_ARCHS), "one of " + ", ".join(MPY_ARCHS)),
    ("pins.onewire", _pin, "a GPIO number or pin name"),
    ("pins.status_led", _pin, "a GPIO number or pin name"),
    ("pins.status_led_active_low", lambda v: isinstance(v, bool), "true or false"),
    ("pins.status_led_kind", _one_of(("gpio", "ws2812")), "gpio or ws2812"),
    ("pins.safe_mode_button", _pin, "a GPIO number or pin name"),
    ("watchdog_max_ms", _count(1000), "milliseconds, at least 1000"),
    ("rtc_memory_bytes", _count(0), "a byte count (0 when none survives a reset)"),
    ("verified_tls", lambda v: isinstance(v, bool), "true or false"),
    ("filesystem_kb", _count(64), "KiB of littlefs, at least 64"),
    ("heap_budget_kb", _count(16), "KiB of Python heap free for tempnode, at least 16"),
    ("flash.tool", _one_of(FLASH_TOOLS), "one of " + ", ".join(FLASH_TOOLS)),
    ("notes", lambda v: isinstance(v, str), "a string"),
)


_MISSING = object()


def _lookup(board, dotted):
    value = board
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def check_board(board, source):
    """Raise UserError naming `source` and the first bad field."""
    if not isinstance(board, dict):
        raise UserError(f"{source}: expected a JSON object")
    for field, check, expected in SCHEMA:
        value = _lookup(board, field)
        if value is _MISSING:
            raise UserError(f"{source}: field '{field}' is missing (expected {expected})")
        if not check(value):
            raise UserError(f"{source}: field '{field}' is {value!r}, expected {expected}")
    if board["name"] != source.stem:
        raise UserError(f"{source}: field 'name' is {board['name']!r}, expected {source.stem!r}")
    if board["flash"]["tool"] == "esptool":
        for field in ("chip", "offset"):
            if not _text(board["flash"].get(field)):
                raise UserError(f"{source}: field 'flash.{field}' is needed with esptool")


def board_names(directory=BOARDS):
    return sorted(p.stem for p in directory.glob("*.json"))


def load_board(name, directory=BOARDS):
    path = directory / f"{name}.json"
    if not path.exists():
        known = ", ".join(board_names(directory))
        raise UserError(f"unknown board {name!r}: choose one of {known}")
    try:
        board = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    check_board(board, path)
    return board


def load_all(directory=BOARDS):
    return [load_board(name, directory) for name in board_names(directory)]


def format_table(boards):
    header = ("board", "port", "chip", "mpy", "1-Wire", "LED", "button", "WDT max", "RTC mem")
    header += ("verified TLS", "fs KiB", "heap KiB")
    rows = [header]
    for b in boards:
        pins = b["pins"]
        led = f"{pins['status_led']}{' (active low)' if pins['status_led_active_low'] else ''}"
        rows.append(
            (
                b["name"],
                b["port"],
                b["chip"],
                f"{b['mpy_version']} {b['mpy_arch']}",
                str(pins["onewire"]),
                led,
                str(pins["safe_mode_button"]),
                f"{b['watchdog_max_ms']} ms",
                f"{b['rtc_memory_bytes']} B",
                "yes" if b["verified_tls"] else "NO",
                str(b["filesystem_kb"]),
                str(b["heap_budget_kb"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
    return "\n".join(line.rstrip() for line in lines)


def register(subparsers):
    p = subparsers.add_parser("boards", help="list the board catalogue")
    p.set_defaults(func=lambda args: print(format_table(load_all())))
