"""The REPL helpers behind `tempnode.status()`, `.read()`, `.provision()`, `.run()`."""

_RESET_CAUSES = (
    ("PWRON_RESET", "power-on"),
    ("HARD_RESET", "hard reset"),
    ("WDT_RESET", "watchdog"),
    ("DEEPSLEEP_RESET", "deep-sleep wake"),
    ("SOFT_RESET", "soft reset"),
)


def state():
    """The device's state as a dict (what `tempnode status` on the host shows). No secrets."""
    import gc

    from tempnode.app import ConfigError, assemble

    parts = assemble()
    clock = parts.clock
    gc.collect()
    facts = {
        "board": parts.board["name"],
        "uptime_s": clock.monotonic_ms() // 1000,
        "wall_time": clock.wall_time(),
        "wall_time_source": clock.wall_source,
        "free_heap": gc.mem_free(),
        "reset_cause": _reset_cause(),
    }
    try:
        parts.configure()
    except ConfigError as e:
        facts["config_error"] = str(e)
        return facts
    loop = parts.loop
    facts["wifi"] = {
        "ssid": parts.wifi.ssid,
        "rssi": parts.wifi.rssi() if parts.wifi.ssid else None,
        "outages": parts.wifi.outages,
    }
    facts["spool"] = {"waiting": parts.spool.depth(), "dropped": parts.spool.dropped()}
    facts["sampling"] = {
        "samples_this_boot": loop.samples if loop else 0,
        "late_samples": loop.late_samples if loop else 0,  # a whole interval late
    }
    facts["uploads"] = {
        "readings_this_boot": loop.uploaded if loop else 0,
        "last_s_ago": (clock.monotonic_ms() - loop.last_upload_ms) // 1000 if loop else None,
    }
    facts["cloud"] = parts.link.status()
    facts["firmware"] = parts.ota.status()
    return facts


def status():
    """Print the device's state, one fact per line."""
    _print_rows(state(), "")


def _print_rows(facts, prefix):
    for key in sorted(facts):
        value = facts[key]
        if isinstance(value, dict):
            _print_rows(value, prefix + key + ".")
        else:
            print("%-32s %s" % (prefix + key, "-" if value is None else value))


def read():
    """Take one sensor cycle now and print it."""
    from tempnode.app import assemble

    parts = assemble()
    parts.configure()
    for r in parts.bank.read_cycle():
        value = "%.4f C" % r.c if r.error is None else "no reading: " + r.error
        print("%s  %-24s %s" % (r.rom_hex, r.label or "", value))


def provision():
    """Get a new credential with the device flow; the URL and code are printed here."""
    from tempnode.app import assemble

    parts = assemble()
    parts.configure()
    parts.wifi.ensure(parts.clock.monotonic_ms() + 30000, _no_watchdog)
    parts.link.provision(None, lambda: parts.led.show("needs_provisioning", parts.clock))


def _no_watchdog():
    pass


def _reset_cause():
    import machine

    cause = machine.reset_cause()
    for name, text in _RESET_CAUSES:
        if getattr(machine, name, None) == cause:
            return text
    return str(cause)
