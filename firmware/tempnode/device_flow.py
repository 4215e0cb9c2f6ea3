"""Provisioning on the device with no password: the device authorization grant (RFC 8628).

    body = device_flow.run(session, profile, cloud, secrets, clock, deadline_ms, blink)
    tokens.adopt(body)  # the reply becomes credential.json

The device asks the cloud for a code (§3.1-3.2), prints the verification URL and the user
code on the console, and polls the token endpoint (§3.4) while a person approves the code in a
browser. `authorization_pending` keeps polling; `slow_down` adds 5 s to the interval for good
(§3.5); `access_denied` and `expired_token` end the flow; a timeout or a 5xx backs the polling
off (§3.5 recommends it) with the one backoff policy. `blink()` (if given) is called about
once a second while waiting, e.g. to flash the status LED.
"""

from micropython import const

from tempnode import redact
from tempnode.backoff import Backoff
from tempnode.http import HttpError
from tempnode.redact import LinkError
from tempnode.tokens import post_token_request

_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_DEFAULT_INTERVAL_S = const(5)  # RFC 8628 §3.2
_SLOW_DOWN_MS = const(5000)  # RFC 8628 §3.5
_POLL_BACKOFF_CAP_MS = const(60000)
_BLINK_EVERY_MS = const(1000)


def run(session, profile, cloud, secrets, clock, deadline_ms, blink=None):
    """Run the device flow to its end; return the token reply (dict) or raise `LinkError`."""
    if profile["device_flow"] is None:
        raise LinkError(
            "this cloud has no device flow: provision the device from the host "
            "(tempnode provision)",
            False,
        )
    path, scope = profile["device_flow"]
    client = (cloud["client_id"], secrets.get("client_secret"))
    reply = post_token_request(
        session, profile, cloud, path, [("scope", scope)], client, deadline_ms
    )
    grant = reply.json()
    if reply.status != 200 or not isinstance(grant, dict) or "device_code" not in grant:
        raise LinkError("the cloud refused to start the device flow (HTTP %d)" % reply.status)
    device_code = redact.secret(grant["device_code"])
    interval_ms = int(grant.get("interval") or _DEFAULT_INTERVAL_S) * 1000
    expires_at = min(deadline_ms, clock.monotonic_ms() + int(grant["expires_in"]) * 1000)
    redact.log(
        "to connect this logger, open %s and enter the code %s"
        % (grant["verification_uri"], grant["user_code"])
    )
    if grant.get("verification_uri_complete"):
        redact.log("(or open %s)" % grant["verification_uri_complete"])
    pairs = [("grant_type", _GRANT), ("device_code", device_code)]
    backoff = Backoff(interval_ms, _POLL_BACKOFF_CAP_MS, interval_ms)
    wait_ms = interval_ms
    while True:
        _wait(clock, min(wait_ms, expires_at - clock.monotonic_ms()), blink)
        if clock.monotonic_ms() >= expires_at:
            raise LinkError("the code expired before anyone approved it: start again", False)
        try:
            reply = post_token_request(session, profile, cloud, None, pairs, client, expires_at)
        except HttpError as e:
            if not e.transient:
                raise
            wait_ms = backoff.failed(clock.monotonic_ms())
            continue
        body = reply.json()
        body = body if isinstance(body, dict) else {}
        if reply.status == 200:
            redact.log("device flow approved")
            return body
        error = body.get("error")
        if reply.status == 429 or reply.status >= 500:
            wait_ms = backoff.failed(clock.monotonic_ms(), reply.retry_after_ms())
            continue
        if error == "slow_down":
            interval_ms += _SLOW_DOWN_MS
        elif error != "authorization_pending":
            raise LinkError("the device flow ended: %s" % (error or reply.status), False)
        backoff.succeeded()
        backoff.base_ms = backoff.floor_ms = wait_ms = interval_ms


def _wait(clock, ms, blink):
    end = clock.monotonic_ms() + ms
    while True:
        left = end - clock.monotonic_ms()
        if left <= 0:
            return
        if blink is not None:
            blink()
        clock.sleep_ms(min(left, _BLINK_EVERY_MS))
