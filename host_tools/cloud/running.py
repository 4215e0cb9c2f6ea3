"""One dev cloud per data folder, and how the other commands find it.

`serve` holds `DATA_DIR/server.lock` (`folder_lock`) for as long as it serves, and writes
`server.json` (where it listens, its CA, its pid) once it holds it; a `server.json` left by a
cloud that died says nothing, the lock does.
"""

import json
import os
from pathlib import Path

from .. import folder_lock
from ..errors import UserError

LOCK_NAME = "server"  # DATA_DIR/server.lock
SERVER_INFO_FILE = "server.json"
DEFAULT_PORT = 8443  # `serve` and `start`; `start` and `tempnode sim` take any when it is taken


def acquire(data_dir):
    """The held lock of `data_dir`; a UserError when a cloud serves from there already."""
    fd = folder_lock.hold(data_dir, LOCK_NAME)
    if fd is None:
        info = last_info(data_dir) or {}
        raise UserError(
            f"a dev cloud already serves from {data_dir} ({info.get('url', '?')}, pid "
            f"{info.get('pid', '?')}): use it, stop it with `tempnode cloud stop`, or give "
            "another --data-dir"
        )
    return fd


release = folder_lock.release


def serving(data_dir):
    """True while a cloud serves from `data_dir`."""
    return folder_lock.held(data_dir, LOCK_NAME)


def last_info(data_dir):
    """What the last cloud started from `data_dir` wrote to server.json, or None."""
    try:
        return json.loads((Path(data_dir) / SERVER_INFO_FILE).read_text())
    except (OSError, ValueError):
        return None


def running_info(data_dir):
    """server.json of the cloud serving from `data_dir` now, or None."""
    return last_info(data_dir) if serving(data_dir) else None


def write_info(data_dir, info):
    data_dir = Path(data_dir)
    tmp = data_dir / (SERVER_INFO_FILE + ".tmp")
    tmp.write_text(json.dumps(info, indent=1) + "\n")
    os.replace(tmp, data_dir / SERVER_INFO_FILE)
