"""An update's manifest: what a release holds, what is signed, and the checks the board runs.

The same file runs on the board (MicroPython) and on the laptop for `tempnode release
publish` (CPython), which checks its own manifest with it before signing, so both sides
agree on the format and print the same reasons.

A manifest is compact JSON (UTF-8) written by `tempnode release publish`:

    {"format": 1, "version": "0.1.0+3f9a1c2b0d", "board": "esp32-devkitc",
     "micropython": [1, 23, 0],
     "files": [["tempnode/app.mpy", 6210, "<SHA-256, 64 hex digits>"], ...]}

`micropython` is the oldest MicroPython the bundle runs on (its .mpy version's first
release); `files` is the whole `tempnode/` package as built for that board, each file with its
size in bytes and SHA-256.

What is signed: Ed25519 (RFC 8032) over `SIGNED_PREFIX + SHA-256(manifest bytes)`. Signing
the manifest's digest instead of the manifest itself keeps the device's Ed25519 hash to one
SHA-512 block (its SHA-512 is plain Python, slow on a 32-bit board), and the prefix keeps a
release signature from meaning anything else. The prefix and digest fit one 128-byte SHA-512
block together with R and A (64 + 13 + 32 + 17 bytes of padding).
"""

import json

FORMAT = 1
SIGNED_PREFIX = b"tempnode-ota:"
PACKAGE = "tempnode/"
MAX_FILES = 200
MAX_FILE_BYTES = 262144
_VERSION_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-_"
_PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_HEX = "0123456789abcdef"


def signed_message(manifest_sha256):
    """The bytes the publisher's key signs for a manifest, from its SHA-256 digest (the board
    hashes the manifest from flash in pieces: it never holds the whole file)."""
    return SIGNED_PREFIX + manifest_sha256


def encode(manifest):
    """A manifest dict as the exact bytes that are published and signed."""
    return json.dumps(manifest, separators=(",", ":")).encode()


def check_version(version):
    """None when `version` is a version name, else what is wrong with it."""
    if not isinstance(version, str) or not 1 <= len(version) <= 40:
        return "the version is not a name of 1-40 characters"
    for ch in version:
        if ch not in _VERSION_CHARS:
            return "the version %s has a character other than letters, digits, . + - _" % version
    return None


def problem(manifest, board, micropython):
    """Why this board must not run the release `manifest` describes, or None.

    `board` is the board's name, `micropython` the (major, minor, micro) it runs."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return "its manifest is not format %d" % FORMAT
    bad_version = check_version(manifest.get("version"))
    if bad_version:
        return bad_version
    if manifest.get("board") != board:
        return "it is for board %s, this board is %s" % (manifest.get("board"), board)
    needs = manifest.get("micropython") or []
    if not _is_version_triple(needs):
        return "its manifest does not say which MicroPython it needs"
    if tuple(needs) > tuple(micropython[:3]):
        return "it needs MicroPython %s or later, this board runs %s" % (
            _dotted(needs),
            _dotted(micropython[:3]),
        )
    files = manifest.get("files")
    if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES:
        return "its manifest lists no files, or more than %d" % MAX_FILES
    seen = set()
    for entry in files:
        bad = _file_problem(entry)
        if bad:
            return bad
        if entry[0] in seen:
            return "its manifest lists %s twice" % entry[0]
        seen.add(entry[0])
    if PACKAGE + "__init__.mpy" not in seen:
        return "its manifest has no %s__init__.mpy" % PACKAGE
    return None


def total_bytes(manifest):
    return sum(entry[1] for entry in manifest["files"])


def _file_problem(entry):
    if not isinstance(entry, list) or len(entry) != 3:
        return "a file entry is not [path, size, sha256]"
    path, size, digest = entry
    if not _is_package_path(path):
        return "the file name %s is not a module of the %s package" % (path, PACKAGE)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_FILE_BYTES:
        return "the size of %s is not 0-%d bytes" % (path, MAX_FILE_BYTES)
    if not isinstance(digest, str) or len(digest) != 64 or not _all_in(digest, _HEX):
        return "the SHA-256 of %s is not 64 lowercase hex digits" % path
    return None


def _is_package_path(path):
    # tempnode/<name>.mpy, or one folder deeper; no "..", no absolute path, nothing else.
    if not isinstance(path, str) or not path.startswith(PACKAGE) or not path.endswith(".mpy"):
        return False
    parts = path[len(PACKAGE) : -4].split("/")
    if len(parts) > 2:
        return False
    for part in parts:
        if not part or not _all_in(part, _PATH_CHARS):
            return False
    return True


def _is_version_triple(value):
    if not isinstance(value, list) or len(value) != 3:
        return False
    for n in value:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            return False
    return True


def _all_in(text, allowed):
    for ch in text:
        if ch not in allowed:
            return False
    return True


def _dotted(version):
    return ".".join(str(n) for n in version)
