"""Safe mode: when to skip the logger and leave the REPL to the person at the serial console.

Two ways in, like ESPHome's safe mode: the board's button held while it boots, or several
quick reboots in a row (the logger crashing or being reset soon after each boot). The count
is cleared once the logger has run for `STABLE_AFTER_MS`.

What counts as a quick reboot: every boot but a deep-sleep wake, a boot with the button held,
a boot after a reset the logger made on purpose (`BootState.planned_reset`: the cloud gave no
answer for `reboot_after_no_upload_s`) and a trial boot of a new version (`slots` counts
those and rolls the version back). So a crash, a watchdog reset or a reset by hand
within a minute of boot counts; what the cloud does never does (nothing it sends can crash
the logger, and the reset it can cause is a planned one). Power cuts do not count where the
state is in RTC memory, which a power-on clears.
"""

# slots (the board's version chooser) reads the button before any version runs: one reader.
import slots
from micropython import const

QUICK_REBOOT_LIMIT = const(5)
STABLE_AFTER_MS = const(60000)


def woke_from_deep_sleep():
    import machine

    return machine.reset_cause() == machine.DEEPSLEEP_RESET


def enter_reason(board, boot_state):
    """Why this boot must be a safe-mode boot, or None. Counts this boot as a quick reboot."""
    if slots.button_held(board["pins"]["safe_mode_button"]):
        return "the safe-mode button was held at boot"
    if woke_from_deep_sleep():
        return None  # a battery logger's schedule, not a crash
    if boot_state.planned_reset:
        boot_state.planned_reset = False  # the logger reset the board on purpose
        boot_state.save()
        return None
    if slots.on_trial():
        return None  # a new version's trial counts its own boots and rolls it back (slots)
    boot_state.quick_reboots += 1
    reason = None
    if boot_state.quick_reboots >= QUICK_REBOOT_LIMIT:
        reason = "%d quick reboots in a row" % boot_state.quick_reboots
        boot_state.quick_reboots = 0  # the next reset, after a fix, boots normally
    boot_state.save()
    return reason


def mark_stable(boot_state):
    if boot_state.quick_reboots:
        boot_state.quick_reboots = 0
        boot_state.save()
