"""One dev cloud per data folder, and how the other commands find it.

`serve` holds an exclusive `flock` on `DATA_DIR/server.lock` for as long as it serves, and
writes `server.json` (where it listens, its CA, its pid) once it holds it. The kernel lets go
of the lock when the process ends, however it ends, so "the lock is held" is the one test of
"a cloud serves from this folder": a `server.json` left by a cloud that died says nothing.
"""

import fcntl
import json
import os
from pathlib import Path

from ..errors import UserError

LOCK_FILE = "server.lock"
SERVER_INFO_FILE = "server.json"


def acquire(data_dir):
    """The held lock of `data_dir` (an open file descriptor); a UserError when a cloud serves
    from there already."""
    data_dir = Path(data_dir)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        info = last_info(data_dir) or {}
        raise UserError(
            f"a dev cloud already serves from {data_dir} ({info.get('url', '?')}, pid "
            f"{info.get('pid', '?')}): use it, stop it with `tempnode cloud stop`, or give "
            "another --data-dir"
        ) from None
    return fd


def release(fd):
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def serving(data_dir):
    """True while a cloud holds the lock of `data_dir`."""
    try:
        fd = os.open(Path(data_dir) / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False


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
