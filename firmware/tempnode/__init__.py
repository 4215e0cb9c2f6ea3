"""tempnode firmware. At the serial REPL:

    import tempnode
    tempnode.status()      # clock, Wi-Fi, last upload, spool, token state (never the token), heap
    tempnode.read()        # one sensor cycle, printed
    tempnode.provision()   # device flow: prints a URL and a code to approve in a browser
    tempnode.run()         # start the logger (main.py does this at boot)

Each helper imports its module on first call: every `tempnode.<module>` import runs this file,
so it stays small.
"""


def state():
    """The device's state as a dict (what `tempnode status` on the host shows). No secrets."""
    from tempnode.repl import state

    return state()


def status():
    """Print the device's state, one fact per line."""
    from tempnode.repl import status

    status()


def read():
    """Take one sensor cycle now and print it."""
    from tempnode.repl import read

    read()


def provision():
    """Get a new credential with the device flow; the URL and code are printed here."""
    from tempnode.repl import provision

    provision()


def run():
    """Start the logger (main.py does this at boot)."""
    from tempnode.app import run

    run()


def forget_modules(names):
    """For the firmware itself: give the heap back what modules imported for one job hold
    (their code and tables: on a board without ROMFS the .mpy is in RAM). MicroPython keeps a
    module in sys.modules and in its package's attributes."""
    import gc
    import sys

    package = sys.modules["tempnode"]
    for name in names:
        sys.modules.pop("tempnode." + name, None)
        if hasattr(package, name):
            delattr(package, name)
    gc.collect()
