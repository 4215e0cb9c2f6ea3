# Runs one device-side test function under MicroPython: micropython_runner.py MODULE FUNCTION.
# Prints PASS last on success; on failure prints the MicroPython traceback and exits 1.
# With TEMPNODE_TEST_ROMFS set, the firmware comes from that ROMFS image, mounted at /rom as a
# board with a ROMFS partition mounts it (read into a buffer first: the unix port has no
# memory-mapped flash).
import os
import sys

_image = os.getenv("TEMPNODE_TEST_ROMFS")
if _image:
    import vfs

    with open(_image, "rb") as f:
        _rom = bytearray(os.stat(_image)[6])
        f.readinto(_rom)
    vfs.mount(vfs.VfsRom(_rom), "/rom")
    sys.path.insert(0, "/rom")

try:
    getattr(__import__(sys.argv[1]), sys.argv[2])()
except BaseException as e:  # noqa: B036 - a test may fail any way at all; report them all
    sys.print_exception(e)
    sys.exit(1)
print("PASS")
