"""`tempnode validate`: check a device folder (config, secrets, CA) before it reaches a board.

The config and secrets checks are the firmware's own (`firmware/tempnode/config.py`, loaded
here under CPython), so the laptop prints exactly what the board would print at boot. The host
adds what only it can see: files that are missing or not JSON, a secrets file others can read,
and a CA that is not a DER certificate.
"""

import importlib.util
import json
import os
import ssl
import stat
import sys
from functools import cache

from .boards import load_all
from .device import add_dir_argument
from .errors import UserError
from .paths import FIRMWARE

CONFIG = "config.json"
SECRETS = "secrets.json"
CREDENTIAL = "credential.json"
LOCAL = "local.json"  # host-only settings of the folder (the serial port), never deployed


@cache
def firmware_module(name):
    """A plain-data firmware module (`tempnode.<name>`, no MicroPython imports) run by CPython."""
    spec = importlib.util.spec_from_file_location(
        f"tempnode_device_{name}", FIRMWARE / "tempnode" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config_schema():
    """The firmware's `tempnode.config` module, run by CPython."""
    return firmware_module("config")


def catalogue():
    return {board["name"]: board for board in load_all()}


def read_json(path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist: {_how_to_create(path)}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def _how_to_create(path):
    folder = path.parent
    if path.name == SECRETS and (folder / CONFIG).exists():
        return f"write it for {folder / CONFIG} with `tempnode init --dir {folder} --secrets-only`"
    return f"create the folder with `tempnode init --dir {folder}`"


def ca_problem(data, name):
    """What is wrong with a CA certificate's bytes, or None."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return f"{name} is PEM, expected DER: convert it with `tempnode init --ca {name}`"
    try:
        ssl.create_default_context(cadata=data)
    except (ssl.SSLError, ValueError):
        return f"{name} is not a DER X.509 certificate"
    return None


def folder_problems(folder):
    """(config, secrets, [problem lines prefixed with their file name])."""
    schema = config_schema()
    config = read_json(folder / CONFIG)
    secrets = read_json(folder / SECRETS)
    problems = [f"{CONFIG}: {p}" for p in schema.check(config, catalogue())]
    if isinstance(config, dict):
        problems += [f"{SECRETS}: {p}" for p in schema.check_secrets(secrets, config)]
    mode = stat.S_IMODE((folder / SECRETS).stat().st_mode)
    if mode & 0o077:
        problems.append(
            f"{SECRETS}: readable by other users (mode {mode:o}), expected 600: "
            f"chmod 600 {folder / SECRETS}"
        )
    ca = config.get("cloud", {}).get("ca") if isinstance(config, dict) else None
    if isinstance(ca, str) and "/" not in ca:
        path = folder / ca
        if not path.exists():
            problems.append(f"{ca}: missing, expected the cloud's CA certificate in {folder}")
        elif (problem := ca_problem(path.read_bytes(), ca)) is not None:
            problems.append(problem)
    return config, secrets, problems


def board_line(problem):
    """A problem as the board prints it at boot (firmware/tempnode/app.py)."""
    return "tempnode: CONFIG ERROR: " + problem


def load_folder(folder):
    """A valid folder's (config with defaults, secrets); prints every problem otherwise, each
    as the board would print it."""
    config, secrets, problems = folder_problems(folder)
    if problems:
        for problem in problems:
            print(board_line(problem), file=sys.stderr)
        some = f"{len(problems)} problems (listed above): fix them"
        raise UserError(
            f"{folder} has {some if len(problems) > 1 else '1 problem (above): fix it'} and retry"
        )
    return config_schema().with_defaults(config), secrets


def local_settings(folder):
    path = folder / LOCAL
    return read_json(path) if path.exists() else {}


def default_port(args):
    """--port if given, else the port `tempnode init` recorded for the folder, else auto."""
    if args.port:
        return args.port
    return local_settings(args.dir).get("port", "auto")


def write_private(path, data):
    """Write `data` readable by the owner only, atomically (temporary name, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def run(args):
    config, _secrets = load_folder(args.dir)
    print(f"{args.dir}: config, secrets and CA are valid for board {config['board']}")


def register(subparsers):
    p = subparsers.add_parser("validate", help="check a device folder's config, secrets and CA")
    add_dir_argument(p)
    p.set_defaults(func=run)
