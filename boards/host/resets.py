"""Why the simulated board stopped: `machine` reset causes and the process exit status of each.

The board is one `micropython` process per boot. When it resets (deep sleep, watchdog,
`machine.reset()`, a power cut) the process exits with `EXIT_BASE + cause`, where cause is the
value `machine.reset_cause()` returns on the next boot; whatever runs the board (the simulator)
restarts it. A power cut's status says the next boot is a power-on. Exit status 0 is a boot
that ended at the REPL (its end is a soft reset); 1 is the interpreter's own uncaught error.
Plain data (the reset causes have the esp32 port's values): the host tools import it too.
"""

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

EXIT_BASE = 80

# cause -> name of the event that ends a boot with it, as the board's stats file records it
EVENTS = {
    PWRON_RESET: "power_cut",
    HARD_RESET: "reset",
    WDT_RESET: "watchdog",
    DEEPSLEEP_RESET: "deepsleep",
    SOFT_RESET: "soft_reset",
}


def exit_status(cause):
    return EXIT_BASE + cause
