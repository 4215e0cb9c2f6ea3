"""Provisioning on the device with no password: the device authorization grant (RFC 8628).

    body = device_flow.run(session, profile, cloud, secrets, clock, deadline_ms, blink)
    tokens.adopt(body)  # the reply becomes credential.json

    flow = DeviceFlow(session, profile, cloud, secrets, clock)  # the same, in steps:
    flow.start(deadline_ms)                                     # prints the URL and code
    body = flow.poll(deadline_ms) if flow.due() else None       # None while pending

The device asks the cloud for a code (§3.1-3.2), prints the verification URL and the user
code on the console, and polls the token endpoint (§3.4) while a person approves the code in a
browser. What each reply means is `tempnode.outcomes`' (endpoint "device"): `pending` keeps
polling; `slow_down` adds 5 s to the interval for good (§3.5); a refusal (`access_denied`,
`expired_token`, ...) ends the flow; a timeout or a 5xx backs the polling off (§3.5 recommends
it) with the one backoff policy; any other failure, at the start or in a poll, is raised with
its outcome for the cloud link to back off. `blink()` (if given) is called about once a second
while waiting, e.g. to flash the status LED.
"""

from micropython import const

from tempnode import outcomes, redact
from tempnode.backoff import Backoff
from tempnode.http import HttpError
from tempnode.redact import LinkError
from tempnode.tokens import post_token_request

_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_DEFAULT_INTERVAL_S = const(5)  # RFC 8628 §3.2
_SLOW_DOWN_MS = const(5000)  # RFC 8628 §3.5
_POLL_BACKOFF_CAP_MS = const(60000)
_BLINK_EVERY_MS = const(1000)
_GRANT_FIELDS = (
    "device_code",
    "user_code",
    "verification_uri",
    "verification_uri_complete",
    "expires_in",
    "interval",
)


class DeviceFlow:
    """One device-flow attempt, in steps that never block: `start()` once, then `poll()`
    whenever `due()`; the field logger samples on schedule in between."""

    def __init__(self, session, profile, cloud, secrets, clock):
        if profile["device_authorization_url"] is None:
            raise LinkError(
                "this cloud has no device flow: provision the device from the host "
                "(tempnode provision)",
                outcomes.CONFIG,
            )
        self.session = session
        self.profile = profile
        self.clock = clock
        self.client = (cloud["client_id"], secrets.get("client_secret"))
        self.expires_at = 0  # monotonic ms; before start() the flow counts as expired
        self.next_poll_ms = 0
        self._pairs = []
        self._interval_ms = _DEFAULT_INTERVAL_S * 1000
        self._backoff = Backoff(self._interval_ms, _POLL_BACKOFF_CAP_MS, self._interval_ms)

    def start(self, deadline_ms):
        """Ask the cloud for a code and print where to approve it (RFC 8628 §3.1-3.3)."""
        reply = post_token_request(
            self.session,
            self.profile,
            self.profile["device_authorization_url"],
            [("scope", self.profile["scope"])],
            self.client,
            deadline_ms,
            _GRANT_FIELDS,
        )
        outcome = outcomes.classify(self.profile, outcomes.DEVICE, reply)
        grant = reply.json()
        if outcome == outcomes.OK and not _usable_grant(grant):
            outcome = outcomes.GARBAGE
        if outcome != outcomes.OK:
            raise outcomes.failure(outcome, "device flow start", reply)
        now = self.clock.monotonic_ms()
        self._interval_ms = _seconds_or(grant.get("interval"), _DEFAULT_INTERVAL_S) * 1000
        self.expires_at = now + _seconds_or(grant["expires_in"], 0) * 1000
        self.next_poll_ms = now + self._interval_ms
        self._pairs = [
            ("grant_type", _GRANT),
            ("device_code", redact.secret(grant["device_code"])),
        ]
        self._backoff = Backoff(self._interval_ms, _POLL_BACKOFF_CAP_MS, self._interval_ms)
        redact.log(
            "to connect this logger, open %s and enter the code %s"
            % (grant["verification_uri"], grant["user_code"])
        )
        if grant.get("verification_uri_complete"):
            redact.log("(or open %s)" % grant["verification_uri_complete"])

    def expired(self):
        return self.clock.monotonic_ms() >= self.expires_at

    def due(self):
        return self.clock.monotonic_ms() >= self.next_poll_ms

    def poll(self, deadline_ms):
        """One poll (§3.4): the token reply once approved, None while pending; `LinkError`
        when the flow has ended (denied, expired) or the cloud refuses the poll."""
        clock = self.clock
        if self.expired():
            raise LinkError(
                "the code expired before anyone approved it: start again",
                outcomes.CREDENTIAL_REFUSED,
            )
        try:
            reply = post_token_request(
                self.session,
                self.profile,
                None,
                self._pairs,
                self.client,
                min(deadline_ms, self.expires_at),
                tuple(key for key in self.profile["reply"] if key),
            )
        except HttpError as e:
            if not e.transient or e.kind == "deadline":
                raise
            self.next_poll_ms = clock.monotonic_ms() + self._backoff.failed(clock.monotonic_ms())
            return None
        outcome = outcomes.classify(self.profile, outcomes.DEVICE, reply)
        if outcome == outcomes.OK:
            redact.log("device flow approved")
            return reply.json() or {}
        if outcome in (outcomes.TRANSIENT, outcomes.GARBAGE):
            wait = self._backoff.failed(clock.monotonic_ms(), None, reply.retry_after_ms())
            self.next_poll_ms = clock.monotonic_ms() + wait
            return None
        if outcome == outcomes.SLOW_DOWN:
            self._interval_ms += _SLOW_DOWN_MS  # for good (§3.5)
        elif outcome != outcomes.PENDING:
            raise outcomes.failure(outcome, "the device flow ended", reply)
        backoff = self._backoff
        backoff.succeeded()
        backoff.base_ms = backoff.floor_ms = self._interval_ms
        self.next_poll_ms = clock.monotonic_ms() + self._interval_ms
        return None


def _usable_grant(grant):
    if not isinstance(grant, dict):
        return False
    for key in ("device_code", "user_code", "verification_uri"):
        if not isinstance(grant.get(key), str):
            return False
    return _seconds_or(grant.get("expires_in"), 0) > 0


def _seconds_or(value, default):
    try:
        return max(0, int(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def run(session, profile, cloud, secrets, clock, deadline_ms, blink=None):
    """Run the device flow to its end; return the token reply (dict) or raise `LinkError`."""
    flow = DeviceFlow(session, profile, cloud, secrets, clock)
    flow.start(deadline_ms)
    while True:
        end = min(deadline_ms, flow.expires_at)
        _wait(clock, min(flow.next_poll_ms, end) - clock.monotonic_ms(), blink)
        if clock.monotonic_ms() >= deadline_ms and not flow.expired():
            raise LinkError("gave up waiting for the device flow's approval", outcomes.DEADLINE)
        body = flow.poll(deadline_ms)
        if body is not None:
            return body


def _wait(clock, ms, blink):
    end = clock.monotonic_ms() + ms
    while True:
        left = end - clock.monotonic_ms()
        if left <= 0:
            return
        if blink is not None:
            blink()
        clock.sleep_ms(min(left, _BLINK_EVERY_MS))
