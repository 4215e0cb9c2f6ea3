"""Power-safe small files: write a temporary name, close it, rename it over the target.

littlefs commits a file's contents when it is closed and `os.rename` replaces the target
atomically, so a power cut leaves the old file or the new one, never a mix
(littlefs DESIGN.md, "metadata pairs"; FAT gives no such guarantee). A full filesystem raises
OSError(ENOSPC) from write or close; the old file is then untouched and the temporary removed.
"""

import json
import os

_TMP_SUFFIX = ".tmp"


def write_bytes(path, data):
    _write(path, "wb", lambda f: f.write(data))


def _write(path, mode, fill):
    tmp = path + _TMP_SUFFIX
    try:
        with open(tmp, mode) as f:
            fill(f)
    except OSError:
        remove_quietly(tmp)
        raise
    os.rename(tmp, path)


def read_bytes(path):
    """The file's bytes, or None when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def write_json(path, obj):
    # Encoded straight into the file: no copy of the text (a credential with its tokens is a
    # few KB) is ever held whole.
    _write(path, "w", lambda f: json.dump(obj, f))


def read_json(path):
    """The decoded object; None when the file does not exist; ValueError naming a corrupt file."""
    data = read_bytes(path)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        raise ValueError("%s is not valid JSON" % path)


def remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass
