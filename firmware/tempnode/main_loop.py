"""The field logger's main loop: sample on schedule, spool everything, upload when due, no stall.

    MainLoop(parts).run()        # until Ctrl-C, a reset or deep sleep

One loop, no threads. Sampling is the fixed point: a reading is taken within a second of its
planned time, because every other step is bounded by the next sample time (each network call
gets `deadline = min(next sample - margin, now + watchdog period - margin)`, which the HTTP
client keeps to within milliseconds). The watchdog is fed only between such bounded steps, so
a step that hangs past its deadline resets the board.

Whatever the cloud does, the loop goes on: no exception from the link, the HTTP client or the
token manager, MemoryError included, leaves an upload session. A failure is counted in the
link's gate (`tempnode.backoff.POLICY` by outcome), said once on the console when it starts or
changes (`tempnode.console`), and the readings stay spooled. While the gate is closed no upload
session starts (no Wi-Fi join, no request).

An upload session (when `upload.interval_s` has passed, or a batch is full) joins Wi-Fi if
needed, then sends batches from the spool oldest first until it is empty or the deadline is
near, on one connection, and forgets only what the cloud confirmed. A network failure (DNS,
connect, timeout) drops the Wi-Fi association so the next session re-joins: outages are found
by timeouts, not by `isconnected()` (boards-and-micropython.md).

After `reboot_after_no_upload_s` with readings waiting and no answer from the cloud at all (no
reply of any status: the network path is what fails, not the cloud's 5xx or the credential,
which a reboot cannot mend), the board resets itself, as ESPHome's reboot timeout does. The
reset is a planned one (it never counts towards safe mode), the spool is on flash, and the
backoffs and the silence clock are kept across it (`tempnode.boot_state`), so a reboot neither
loses a reading nor brings a request forward.
"""

import gc

from micropython import const

from tempnode.clock import set_rtc
from tempnode.console import Console
from tempnode.redact import LinkError, log, print_exception

_SAMPLE_MARGIN_MS = const(1500)  # a network step ends this long before the next sample
_WDT_MARGIN_MS = const(1500)  # ... and this long before the watchdog would bite
_MIN_STEP_MS = const(500)  # not worth starting a network step with less time than this
_RESTART_LEAD_MS = const(1000)  # a planned reset comes this long before the next sample
_NETWORK_KINDS = ("dns", "connect", "timeout", "closed")
_QUIET_OUTCOMES = ("deferred", "deadline")  # nothing was tried: nothing to say
_WIRING_FAULTS = {
    "bus_short": "the 1-Wire bus is held low (readings are kept as bus_short)",
    "absent": "no sensor answers on the 1-Wire bus (readings are kept as absent)",
    "stuck": "every sensor answers all zeros (readings are kept as stuck)",
    "unconfirmed": "no conversion could be confirmed on the 1-Wire bus (readings are kept as "
    "unconfirmed)",
}


class MainLoop:
    def __init__(self, parts):
        self.p = parts
        parts.loop = self
        config = parts.config
        self.sample_ms = config["sample_interval_s"] * 1000
        self.upload_ms = config["upload"]["interval_s"] * 1000
        self.batch_size = config["upload"]["batch_size"]
        self.no_upload_reset_ms = config["reboot_after_no_upload_s"] * 1000
        self.console = Console(parts.clock)
        now = parts.clock.monotonic_ms()
        self.next_sample_ms = now
        self.next_upload_ms = now + self.sample_ms  # the first batch goes out soon after boot
        self.last_upload_ms = now
        # The cloud last answered anything (a 503 counts), across resets.
        self.last_contact_ms = now - parts.boot_state.silent_s * 1000
        # What sampling needs first (on a heap too small for everything, sampling goes on and
        # the uploads wait), then the link at once: its buffers are the largest blocks the
        # logger keeps, and a heap fragmented by the first cycles may not have them later.
        # (A deep-sleep wake makes it only when it uploads: most wakes do not.)
        self._sampling_parts = (parts.bank, parts.spool)
        if not config["deep_sleep"]["enabled"]:
            try:
                parts.link.close()
            except MemoryError:
                gc.collect()  # made at the first upload session instead
        self.samples = 0
        self.late_samples = 0
        self.uploaded = 0
        self.stable = False
        self.wiring_problem = None

    # -- one pass of the loop ---------------------------------------------------------------
    def run(self):
        p = self.p
        log(
            "logging every %d s, uploading every %d s"
            % (self.sample_ms // 1000, self.upload_ms // 1000)
        )
        while True:
            self.step()
            p.wdt_feed()
            self._sleep_until(min(self.next_sample_ms, self.next_upload_ms))

    def wake_cycle(self):
        """Deep-sleep mode, one wake: sample, spool, upload every `upload_every_wakes` wakes,
        then sleep until the next sample (the board resets on waking, main.py comes here)."""
        p = self.p
        started = p.clock.monotonic_ms()
        self.sample(started)
        state = p.boot_state
        state.wakes += 1
        # The first wake after a power-on also uploads: its reply sets the clock and the RTC.
        first_wake = state.wakes == 1 and not state.rtc_set
        if first_wake or state.wakes >= p.config["deep_sleep"]["upload_every_wakes"]:
            self.upload_session()
            state.wakes = 0
        self._keep_rtc()
        state.quick_reboots = 0  # a completed wake is a healthy boot
        self._save_state()
        p.close()
        p.deepsleep(self.sample_ms - (p.clock.monotonic_ms() - started))

    def step(self):
        p = self.p
        now = p.clock.monotonic_ms()
        if now >= self.next_sample_ms:
            self.sample(now)
        if now >= self.next_upload_ms or p.spool.depth() >= self.batch_size * 4:
            self.upload_session()
        self._housekeeping()

    def sample(self, now):
        p = self.p
        readings = p.bank.read_cycle()
        self._note_wiring(readings)
        p.wdt_feed()
        try:
            p.spool.append(readings, now)
        except OSError as e:
            log("spool: cannot store this cycle's readings (%s); keeping the older ones" % e)
        self.console.cycle(readings, p.spool.depth())
        self.samples += 1
        self.next_sample_ms += self.sample_ms
        if self.next_sample_ms <= p.clock.monotonic_ms():
            self.late_samples += 1
            self.next_sample_ms = p.clock.monotonic_ms() + self.sample_ms
        p.led.show(self._state(), p.clock)

    def _note_wiring(self, readings):
        """Say when every sensor fails for a wiring reason, and when that ends."""
        problem = None
        if readings and all(r.error in _WIRING_FAULTS for r in readings):
            problem = readings[0].error
        self.wiring_problem = problem
        text = None
        if problem is not None:
            text = "sensors: %s; check the 1-Wire wiring and pull-up" % _WIRING_FAULTS[problem]
        self.console.problem("sensors", text)

    def upload_session(self):
        p = self.p
        now = p.clock.monotonic_ms()
        self.next_upload_ms = now + self.upload_ms
        try:
            link = p.link
            wait = link.wait_ms()
            if wait:  # backing off: no Wi-Fi join, no request
                self.next_upload_ms = max(self.next_upload_ms, p.clock.monotonic_ms() + wait)
                return
            if not p.spool.depth() and not link.needs_provisioning():
                return  # nothing to send: look again an interval from now
            if not p.wifi.ensure(self._deadline(), p.wdt_feed):
                return
            if link.needs_provisioning() and not self._heal():
                return
            sent = False
            while p.spool.depth() and self._send_batch(self._deadline()):
                sent = True
            if sent:
                self.console.problem("cloud", None)
            p.ota.step(link, self._deadline)  # signed updates ride on the same connection
        except LinkError as e:
            self._failed(e)
        except MemoryError:
            # Outside the link's requests (they say "memory" themselves): making the link or
            # reading a batch from the spool did not fit.
            gc.collect()
            self._failed(LinkError("upload: out of memory preparing a batch", "memory"))
        except Exception as e:  # noqa: BLE001 - a bug must not stop the sampling
            print_exception(e)
            self._failed(LinkError("upload: internal error (%s)" % type(e).__name__))
        finally:
            p.close_link()
            p.wdt_feed()
            self._note_contact()
            self._save_state()

    def _failed(self, error):
        p = self.p
        if error.outcome in _QUIET_OUTCOMES:
            return
        p.link_failed(error)
        if error.outcome == "memory" and self.batch_size > 1:
            # The batch did not fit in this board's heap (a long outage filled the spool).
            # Smaller batches from now on; the readings stay spooled, the gate sets the pause.
            gc.collect()
            self.batch_size //= 2
            log("upload: out of memory; batches of %d readings from now on" % self.batch_size)
        if getattr(error, "kind", None) in _NETWORK_KINDS:
            p.wifi.link_lost()
        if error.outcome != "credential_refused":  # the token manager has said NEEDS PROVISIONING
            self.console.problem("cloud", "cloud: %s" % error)

    def _heal(self):
        """A step towards a working credential; True once there is one. Until then the loop
        wakes when the next step is due, so an approval is noticed within seconds."""
        p = self.p
        if self._deadline() - p.clock.monotonic_ms() < _MIN_STEP_MS:
            return False
        if p.link.heal(self._deadline()):
            return True
        self.next_upload_ms = min(self.next_upload_ms, p.link.next_heal_ms())
        return False

    def _send_batch(self, deadline):
        """Send one batch; False when the session should end (no time left, nothing taken)."""
        p = self.p
        if deadline - p.clock.monotonic_ms() < _MIN_STEP_MS:
            return False
        p.wdt_feed()
        batch = p.spool.peek_batch(self.batch_size)
        confirmed = p.link.upload(batch, deadline, p.spool.dropped())
        batch = None
        p.spool.confirm(confirmed)
        self.uploaded += len(confirmed)
        self.last_upload_ms = p.clock.monotonic_ms()
        return bool(confirmed)

    def _deadline(self):
        now = self.p.clock.monotonic_ms()
        return min(self.next_sample_ms - _SAMPLE_MARGIN_MS, now + self.p.wdt_ms - _WDT_MARGIN_MS)

    def _note_contact(self):
        reply_ms = self.p.last_reply_ms()
        if reply_ms is not None and reply_ms > self.last_contact_ms:
            self.last_contact_ms = reply_ms

    def _save_state(self):
        """Keep what a reset must not forget: the link's backoffs and the silence clock."""
        p = self.p
        state = p.boot_state
        state.link = p.link_state()
        state.silent_s = max(0, p.clock.monotonic_ms() - self.last_contact_ms) // 1000
        state.save()

    def _keep_rtc(self):
        """Once the wall time is known from the network, set the RTC, so that readings after a
        deep-sleep wake are stamped before the network is up again."""
        p = self.p
        state = p.boot_state
        if p.clock.wall_known() and p.clock.wall_source != "rtc" and state.keeps_rtc():
            if not state.rtc_set:
                set_rtc(p.clock.wall_time())
                state.rtc_set = True
                state.save()

    def _housekeeping(self):
        p = self.p
        self._keep_rtc()
        now = p.clock.monotonic_ms()
        if not self.stable and now >= p.stable_after_ms:
            self.stable = True
            p.mark_stable()
        p.ota.watch(self.stable and self.samples > 0, self.uploaded)  # a new version on trial
        if (
            self.no_upload_reset_ms
            and p.spool.depth()
            and now - self.last_contact_ms > self.no_upload_reset_ms
            and not p.needs_provisioning()
        ):
            silent_s = (now - self.last_contact_ms) // 1000
            log("no answer from the cloud for %d s with readings waiting: resetting" % silent_s)
            self.last_contact_ms = now  # the next silence is counted from the reset
            p.boot_state.planned_reset = True
            self.restart()

    def restart(self):
        """Reset the board just before the next sample is due (a planned reset: the silence
        reboot, an update's switch or trial). A boot samples at once, so its first reading
        keeps the schedule: neither late nor a second one moments after the last."""
        self._sleep_until(self.next_sample_ms - _RESTART_LEAD_MS)
        self._save_state()
        self.p.reset()

    def _sleep_until(self, when_ms):
        p = self.p
        step = p.wdt_ms // 2
        while True:
            left = when_ms - p.clock.monotonic_ms()
            if left <= 0:
                return
            p.clock.sleep_ms(min(left, step))
            p.wdt_feed()

    def _state(self):
        p = self.p
        if p.needs_provisioning():
            return "needs_provisioning"
        if self.wiring_problem is not None:
            return "sensor_fault"
        if p.wifi_failing():
            return "no_wifi"
        if p.link_failing():
            return "no_cloud"
        return "ok"
