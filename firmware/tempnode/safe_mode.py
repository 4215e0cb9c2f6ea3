"""Safe mode: when to skip the logger and leave the REPL to the person at the serial console.

Two ways in, like ESPHome's safe mode: the board's button held while it boots, or several
quick reboots in a row (the logger crashing or being reset soon after each boot). The count
is cleared once the logger has run for `STABLE_AFTER_MS`.
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
