# Runs one device-side test function under MicroPython: micropython_runner.py MODULE FUNCTION.
# Prints PASS last on success; on failure prints the MicroPython traceback and exits 1.
import sys

try:
    getattr(__import__(sys.argv[1]), sys.argv[2])()
except BaseException as e:  # noqa: B036 - a test may fail any way at all; report them all
    sys.print_exception(e)
    sys.exit(1)
print("PASS")
