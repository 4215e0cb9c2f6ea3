"""The simulated board's boot ROM: mount the flash, run `boot.py` then `main.py`, leave a REPL.

    TEMPNODE_FLASH=board.img micropython boards/host/launch.py

- `TEMPNODE_FLASH`: host path of the flash image, created blank and formatted (littlefs, the
  size of `boards/host.json` `filesystem_kb`, 4 KiB blocks as on esp32) when missing. Every
  block write goes straight to that file, so a SIGKILL keeps exactly what was written.
- `TEMPNODE_POWER_CUT_AT_WRITE=N`: the power goes at the N-th block write of this boot; that
  write is left half done and the process exits with `resets.exit_status(PWRON_RESET)` (81).
- The littlefs is mounted at `/` and is the current directory; the host's filesystem is
  mounted read-only at `/host` (the board's own modules are imported from there, and
  `TEMPNODE_SCENARIO` is rewritten to point there). `sys.path` is
  `['', '/lib', '/host<boards/host>', '.frozen']`, with `/host<TEMPNODE_HARDWARE_MPY>` (the
  same modules as `.mpy`, `host_tools.sim.compiled_hardware`) before the source folder when
  that variable is set.
- `boot.py` and `main.py` run like MicroPython's pyexec: in `__main__`'s namespace, an
  exception is printed and the boot goes on; when `main.py` ends, the REPL follows (no `-i`
  needed; with `-i` a reset that ends the boot lands in the REPL instead of exiting).
- How a boot ends, and the exit status that says so: `resets.py`. Block-write counts go to
  `<image>.stats`; RTC memory and the reset cause to `<image>.rtc` (see `sim_board`).
"""

import os
import sys

import resets
import sim_board
import vfs
from sim_flash import SimFlash

_BLOCK_SIZE = 4096
_HOST_MOUNT = "/host"
_HOST_PATH_VARIABLES = ("TEMPNODE_SCENARIO",)  # files read after boot, by path
_MODULES = sys.path[0]  # this script's folder, made absolute by the port
# The same modules compiled to .mpy (host_tools.sim): loaded without parsing them in the heap.
_COMPILED = os.getenv("TEMPNODE_HARDWARE_MPY")


def _absolute(path):
    return path if path.startswith("/") else os.getcwd() + "/" + path


def _open_flash():
    path = os.getenv("TEMPNODE_FLASH")
    if not path:
        print("board: set TEMPNODE_FLASH to the host path of the flash image")
        sys.exit(2)
    path = _absolute(path)
    blocks = sim_board.BOARD["filesystem_kb"] * 1024 // _BLOCK_SIZE
    flash = SimFlash.open(path, _BLOCK_SIZE, blocks)
    cut_at = os.getenv("TEMPNODE_POWER_CUT_AT_WRITE")
    if cut_at:
        flash.cut_power_after(int(cut_at) - 1, sim_board.power_cut)
    return path, flash


def _mount(flash):
    """The filesystem on `flash` at `/`, formatted first when there is none (as the esp32's
    `_boot.py` does); the host's filesystem read-only at `/host`."""
    try:
        fs = vfs.VfsLfs2(flash)
    except OSError:
        print("board: no filesystem on the flash, formatting it")
        vfs.VfsLfs2.mkfs(flash)
        fs = vfs.VfsLfs2(flash)
    for name in _HOST_PATH_VARIABLES:
        value = os.getenv(name)
        if value:
            os.putenv(name, _HOST_MOUNT + _absolute(value))
    vfs.umount("/")
    vfs.mount(fs, "/")
    vfs.mount(vfs.VfsPosix(), _HOST_MOUNT, readonly=True)
    os.chdir("/")
    compiled = [_HOST_MOUNT + _absolute(_COMPILED)] if _COMPILED else []
    sys.path[:] = ["", "/lib"] + compiled + [_HOST_MOUNT + _MODULES, ".frozen"]


def _run(script):
    try:
        os.stat(script)
    except OSError:
        return
    try:
        with open(script) as f:
            code = compile(f.read(), script, "exec")
        exec(code, globals())
    except SystemExit:
        # A reset ends the boot with its own cause; a bare sys.exit() is a soft reset.
        sim_board.reset(resets.SOFT_RESET)
    except BaseException as e:  # noqa: B036 - like pyexec: print it, the board carries on
        sys.print_exception(e)


_flash_path, _flash = _open_flash()
sim_board.power_on(_flash_path, _flash)
_mount(_flash)
_run("boot.py")
_run("main.py")
os.putenv("MICROPYINSPECT", "1")  # the REPL follows main.py (read by the port after this script)
