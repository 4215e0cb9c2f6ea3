"""Boot: from power-on to a running logger, or to the REPL with one clear message.

    import tempnode.app; tempnode.app.main()     # what main.py does

Order: safe mode first (button held, or too many quick reboots), then the configuration
(`config.json`, `secrets.json`, checked by `tempnode.config` with the same messages
`tempnode validate` prints on the host), then the parts, then the logger. A problem with the
configuration prints every message, blinks `config_error` and returns to the REPL: a bad
config never becomes a crash loop. Ctrl-C lands in the REPL with the network closed.
"""

import json

from micropython import const

from tempnode import config as config_schema
from tempnode.clock import read_rtc
from tempnode.redact import log

STABLE_AFTER_MS = const(60000)
_CONFIG_FILE = "config.json"
_SECRETS_FILE = "secrets.json"
_ERROR_BLINKS = const(3)

_parts = None  # the assembled device, kept for the REPL helpers (tempnode.status() ...)


class ConfigError(Exception):
    """The configuration cannot run the logger; `problems` are one line each."""

    def __init__(self, problems):
        super().__init__("; ".join(problems))
        self.problems = problems


class Parts:
    """Everything the logger drives. Board facts first; the configuration when `configure()`
    succeeds; the rest on first use, so `tempnode.status()` works without touching the bus."""

    def __init__(self, clock, board, boot_state, led):
        self.clock = clock
        self.board = board
        self.boot_state = boot_state
        self.led = led
        self.config = {}  # filled by configure()
        self.secrets = {}
        self.stable_after_ms = STABLE_AFTER_MS
        self.wdt_ms = board["watchdog_max_ms"]
        self._wdt = None
        self._bank = None
        self._spool = None
        self._link = None
        self._wifi = None
        self._ota = None
        self.loop = None

    def configure(self):
        """Load and check config.json and secrets.json; ConfigError lists every problem."""
        if not self.config:
            self.config, self.secrets = load_config(self.board)

    @property
    def bank(self):
        if self._bank is None:
            from tempnode.onewire_bus import MicroPythonLine, OneWire
            from tempnode.sensors import SensorBank

            line = MicroPythonLine(_onewire_pin(self.board["pins"]["onewire"]))
            self._bank = SensorBank(
                OneWire(line), self.clock, self.config["sensors"], self.config["sensor_retries"]
            )
        return self._bank

    @property
    def spool(self):
        if self._spool is None:
            from tempnode.spool import Spool

            self._spool = Spool("spool", self.config["spool_capacity"], self.clock)
        return self._spool

    @property
    def link(self):
        if self._link is None:
            from tempnode.cloud_link import CloudLink

            self._link = CloudLink(self.config, self.secrets, self.clock, ".")
            # Every batch says which firmware runs, and how the last update ended.
            self._link.uploader.facts = self.ota.facts
            # Its backoffs from before a reset, unless they were another version's (a switch
            # or a rollback the cloud has not heard of yet: a broken version's failures).
            if "update" not in self.ota.facts:
                self._link.restore(self.boot_state.link)
        return self._link

    # The link is made at the first upload session (inside its error handling: a heap too
    # small for it then costs uploads, never sampling); before that these answer for it.
    def link_state(self):
        """The link's backoffs to keep across a reset (as they were, if it was not used)."""
        return self.boot_state.link if self._link is None else self._link.saved_state()

    def last_reply_ms(self):
        """When the cloud last answered anything this boot, or None."""
        return None if self._link is None else self._link.last_reply_ms()

    def needs_provisioning(self):
        return None if self._link is None else self._link.needs_provisioning()

    def link_failing(self):
        return self._link is not None and self._link.last_error is not None

    def link_failed(self, error):
        if self._link is not None:
            self._link.failed(error)

    def close_link(self):
        if self._link is not None:
            self._link.close()

    def wifi_failing(self):
        return self._wifi is not None and self._wifi.failing()

    @property
    def ota(self):
        if self._ota is None:
            from tempnode.ota import Updates

            self._ota = Updates(self.config, self.board, self.clock, self.wdt_feed, self.restart)
        return self._ota

    @property
    def wifi(self):
        if self._wifi is None:
            from tempnode.wifi import Wifi

            self._wifi = Wifi(self.config["wifi"], self.secrets.get("wifi", {}), self.clock)
        return self._wifi

    def start_watchdog(self):
        import machine

        self._wdt = machine.WDT(timeout=self.wdt_ms)

    def wdt_feed(self):
        if self._wdt is not None:
            self._wdt.feed()

    def mark_stable(self):
        from tempnode import safe_mode

        safe_mode.mark_stable(self.boot_state)

    def reset(self):
        import machine

        self.close()
        machine.reset()

    def restart(self):
        """A planned reset: just before the next sample when the logger runs (MainLoop)."""
        if self.loop is not None:
            self.loop.restart()
        self.reset()

    def deepsleep(self, ms):
        import machine

        machine.deepsleep(max(ms, 0))

    def close(self):
        self.close_link()
        if self._wifi is not None:
            self._wifi.close()


def _onewire_pin(spec):
    """The 1-Wire data line: open drain with the pull-up on (AN126: the bus idles high)."""
    import machine

    from tempnode.board import make_pin

    return make_pin(spec, machine.Pin.OPEN_DRAIN, machine.Pin.PULL_UP)


def load_config(board):
    """(config with defaults, secrets) or ConfigError listing every problem."""
    config = _read_json(_CONFIG_FILE, "run `tempnode init` and `tempnode deploy`")
    problems = config_schema.check(config, {board["name"]: board})
    if problems:
        raise ConfigError([_CONFIG_FILE + ": " + p for p in problems])
    secrets = _read_json(_SECRETS_FILE, "run `tempnode deploy` to copy it")
    problems = config_schema.check_secrets(secrets, config)
    if problems:
        raise ConfigError([_SECRETS_FILE + ": " + p for p in problems])
    return config_schema.with_defaults(config), secrets


def _read_json(name, fix):
    try:
        with open(name) as f:
            return json.load(f)
    except OSError:
        raise ConfigError(["%s is missing: %s" % (name, fix)])
    except ValueError:
        raise ConfigError(["%s is not valid JSON: fix it, or %s" % (name, fix)])


def assemble():
    """The device's parts, made once per boot (main.py and the REPL helpers share them)."""
    global _parts
    if _parts is None:
        from tempnode.board import load_board
        from tempnode.boot_state import BootState
        from tempnode.clock import Clock
        from tempnode.status_led import StatusLed

        board = load_board()
        _parts = Parts(
            Clock(), board, BootState(board["rtc_memory_bytes"]), StatusLed(board["pins"])
        )
    return _parts


def main():
    """What main.py runs: safe mode check, configuration, then the logger until Ctrl-C."""
    from tempnode import safe_mode

    parts = assemble()
    reason = safe_mode.enter_reason(parts.board, parts.boot_state)
    if reason is not None:
        parts.led.safe_mode()
        log("SAFE MODE (%s): the logger is not running; tempnode.run() starts it" % reason)
        return
    run()


def run():
    """Start the logger (from main.py, or by hand at the REPL)."""
    from tempnode.main_loop import MainLoop

    parts = assemble()
    try:
        parts.configure()
    except ConfigError as e:
        _report_config_error(parts, e)
        return
    if parts.boot_state.rtc_set:
        parts.clock.set_wall_time(read_rtc(), "rtc")
    loop = MainLoop(parts)
    parts.start_watchdog()
    try:
        if parts.config["deep_sleep"]["enabled"]:
            loop.wake_cycle()
        loop.run()
    except KeyboardInterrupt:
        log("stopped (Ctrl-C); tempnode.status() shows the state, tempnode.run() restarts")
        # A started watchdog cannot be stopped on these ports (boards-and-micropython.md).
        log(
            "the watchdog still runs: the board resets within %d s; for a long REPL "
            "session reset with the safe-mode button held (safe mode starts no watchdog)"
            % (parts.wdt_ms // 1000 + 1)
        )
    except Exception as e:  # noqa: BLE001 - a logger that stops silently is the worst outcome
        _report_crash(e)
        parts.reset()
    finally:
        parts.close()


def _report_crash(error):
    """The traceback, scrubbed of secrets like every console line, then the reset notice."""
    from tempnode.redact import print_exception

    print_exception(error)
    log("the logger failed; resetting the board (the readings are kept in the spool)")


def _report_config_error(parts, error):
    for problem in error.problems:
        log("CONFIG ERROR: " + problem)
    log("the logger is not running: fix the configuration (tempnode validate) and reset")
    for _ in range(_ERROR_BLINKS):
        parts.led.show("config_error", parts.clock)
        parts.clock.sleep_ms(400)
