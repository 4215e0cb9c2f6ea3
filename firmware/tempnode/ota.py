"""Signed firmware updates over the cloud link, and the trial of a freshly switched version.

    updates = Updates(config, board, clock, feed, restart)
    updates.step(link, deadline)        # end of an upload session: check, download, switch
    updates.watch(healthy, uploaded)    # every pass of the logger: confirm a trial, or give up
    updates.facts                       # rides on every batch: {"firmware": VERSION, ...}
    updates.status()                    # for tempnode.status(): running, staged, rejected

On when the cloud's profile has an `ota_path`, `config.json` has `ota.public_key` (`tempnode
deploy` puts the publisher's key there) and the logger is not in deep-sleep mode.

`step` runs on the upload session's connection, after the batches: every
`ota.check_interval_s` (and at the first session after a boot) it asks the cloud which version
its channel offers; a new one is downloaded, verified and switched to in bounded steps, one
piece after another while the session's time lasts, resumed at the next session or after a
reboot (`tempnode.staging`). `deadline` is a function: the logger's deadline for the next
network step (before the next sample, and within a watchdog period), asked again before each
piece; the watchdog is fed between pieces.

After the switch the board restarts into the new version on trial (`slots`); `restart` is the
logger's planned reset, which comes just before its next sample is due. `watch` confirms it
once the logger has sampled, the cloud has confirmed an upload and the logger has counted the
boot as stable; a trial boot that is not confirmed within `trial_ms` (the larger of 10 minutes
and twice a sample plus an upload interval) notes why and resets the board. So a version that
crashes, hangs, fails to import or never reaches the cloud is back on the previous version
within `slots.TRIAL_BOOTS` boots and at most that many times `trial_ms`.

`facts` holds the running version and, until a batch carrying it is confirmed, the outcome of
the last update (confirmed, or rolled back and why): the cloud's dashboard and
`tempnode release list` show them.
"""

import slots
from micropython import const

from tempnode.redact import log
from tempnode.version import VERSION

_TRIAL_MIN_MS = const(600000)  # 10 min


class Updates:
    def __init__(self, config, board, clock, feed, reset):
        from tempnode import profiles

        ota = config.get("ota", {})
        self.clock = clock
        self.board = board
        self.feed = feed
        self.reset = reset
        self.config = ota
        self.path = profiles.get(config["cloud"]["profile"])["ota_path"]
        deep_sleep = config.get("deep_sleep", {}).get("enabled", False)
        self.enabled = bool(self.path and ota.get("public_key")) and not deep_sleep
        self.check_ms = ota.get("check_interval_s", 86400) * 1000
        intervals_ms = (config["sample_interval_s"] + config["upload"]["interval_s"]) * 1000
        self.trial_ms = max(_TRIAL_MIN_MS, 2 * intervals_ms)
        self.next_check_ms = clock.monotonic_ms()  # the first session after a boot checks
        self.staging = None  # a tempnode.staging.Staging while an update is on its way
        self.facts: dict = {"firmware": VERSION}
        state = slots.state()
        self._reported_at = None  # readings uploaded when the report was put on the batches
        if state and state.get("report"):
            self.facts["update"] = state["report"]
            self._reported_at = 0

    def step(self, link, deadline):
        """The update's share of an upload session; never raises a link error."""
        from tempnode.redact import LinkError

        if not self.enabled or slots.on_trial():
            return
        now = self.clock.monotonic_ms()
        check = now >= self.next_check_ms
        if self.staging is None:
            if not check and not slots.staging_in_progress():
                return
            from tempnode import staging

            self.staging = staging.Staging(self, VERSION)
        if check:
            self.next_check_ms = now + self.check_ms
        try:
            switched = self.staging.advance(link, deadline, check)
        except LinkError as e:
            log("update: %s; going on at the next upload session" % e)
            return
        except MemoryError:
            log("update: the heap is short of room; going on at the next upload session")
            return
        except Exception as e:  # noqa: BLE001 - an update must never stop the logging
            log(
                "update: abandoned (%s: %s); trying again at the next check"
                % (type(e).__name__, e)
            )
            self.staging.abandon()
            self._unload()
            return
        finally:
            self.feed()
        if switched:
            self.reset()  # the logger's restart: just before the next sample
        if not self.staging.busy():
            self._unload()

    def _unload(self):
        """Give the heap back the staging code between downloads (a check is once a day)."""
        from tempnode import staging

        self.staging = None
        staging.forget_modules(("staging", "manifest"))

    def watch(self, healthy, uploaded):
        """Each pass of the logger: `healthy` once it has sampled, the cloud has confirmed an
        upload and the boot counted as stable; `uploaded` counts readings confirmed."""
        if self._reported_at is not None and uploaded > self._reported_at:
            self._reported_at = None
            self.facts.pop("update", None)
            slots.clear_report()
        if not slots.on_trial():
            return
        if healthy and uploaded:
            self._confirm(uploaded)
            return
        if self.clock.monotonic_ms() >= self.trial_ms:
            reason = "not confirmed within %d s of its boot" % (self.trial_ms // 1000)
            log("update: version %s was %s; restarting" % (VERSION, reason))
            slots.note_failure(reason)
            self.reset()

    def _confirm(self, uploaded):
        from tempnode import staging

        previous = (slots.state() or {}).get("previous_version")
        slots.confirm()
        self.facts["update"] = (slots.state() or {}).get("report")
        self._reported_at = uploaded
        log("update: version %s confirmed (it sampled and the cloud took its readings)" % VERSION)
        staging.tidy()
        staging.forget_modules(("staging", "manifest"))
        log("update: the previous version %s is deleted" % previous)

    def status(self):
        state = slots.state() or {}
        staged = self.staging.describe() if self.staging is not None else None
        if staged is None and self.enabled:
            from tempnode import staging

            staged = staging.describe_on_flash()
        return {
            "running": VERSION,
            "updates": "on" if self.enabled else "off",
            "trial": "boot %d of %d" % (state["boots"], slots.TRIAL_BOOTS)
            if state.get("trial")
            else None,
            "staged": staged,
            "rejected": ", ".join(sorted(state.get("rejected") or ())) or None,
            "next_check_s": max(0, self.next_check_ms - self.clock.monotonic_ms()) // 1000
            if self.enabled
            else None,
        }
