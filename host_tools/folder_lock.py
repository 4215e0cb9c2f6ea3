"""One process at a time per folder: an exclusive `flock` on FOLDER/<name>.lock, held for as
long as the process serves from the folder (the dev cloud, the practice board).

The kernel lets go of a lock when its process ends, however it ends, so "the lock is held"
is the one test of "something serves from this folder": a state file left by a process that
died says nothing.
"""

import fcntl
import os
from pathlib import Path


def hold(folder, name):
    """The held lock (an open file descriptor), or None when another process holds it."""
    fd = os.open(Path(folder) / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def release(fd):
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def held(folder, name):
    """True while a process holds FOLDER/<name>.lock."""
    try:
        fd = os.open(Path(folder) / f"{name}.lock", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False
