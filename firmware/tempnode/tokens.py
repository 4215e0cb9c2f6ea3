"""The token manager: keeps an access token alive from the stored credential, one refresh at once.

    tokens = TokenManager(profile, cloud, secrets, store, clock)
    token = tokens.token(session, deadline_ms)    # a usable access token (renewed first if due)
    tokens.rejected(session, token, deadline_ms)  # a resource call said it expired: renew once

Proactive renewal. A token reply's lifetime (`expires_in`) is measured on the monotonic clock
from the moment the reply arrived; the token is renewed once `renew_fraction` of it has passed,
minus a random jitter of up to `_JITTER_PERCENT` % of the lifetime, so a fleet does not renew
in step and the margin is always smaller than the lifetime (no renewal storm). No wall time is
involved: a wrong RTC cannot cause or prevent a renewal. A token whose age is unknown (read
from flash after a reboot, or a cloud that gives no lifetime, like Speckle) is used until the
cloud rejects it.

Reactive renewal. `rejected()` is called when a resource reply matches the profile's
"expired" rules (`profiles.rejects_token`); it renews unless another call already did; the
caller then retries its request once.

A refresh. `credential.json` records `refreshing` before the request is sent. When the
outcome is unknown (timeout, reset, no reply) the same refresh token is presented again at
once, up to `_TRIES` times: a cloud with a rotation grace window then returns the same new
pair (clouds-and-tokens.md, "Rotation and the lost reply"); after a reboot the marker makes
the device do this first. A reply is stored on flash (`store_renewal`) before its access
token is handed out.

Refusals. `invalid_grant` and the other RFC 6749 §5.2 errors are final for that credential:
the file is re-read first (another boot or the host tools may have stored a newer credential)
and the request tried once more if it changed; otherwise the device enters needs-provisioning:
it says so on the console, keeps its readings, and calls the token endpoint again only at a
slow, capped rate (`_DEAD_*`) in case the refusal was the cloud's mistake, while watching
`credential.json` for a new credential from the host tools or the device flow.

Transient failures (5xx, 429, `temporarily_unavailable`, `server_error`, DNS, repeated
timeouts) back off with `tempnode.backoff` (full jitter, Retry-After honoured, capped).
"""

import json
import random

from micropython import const

from tempnode import redact
from tempnode.backoff import Backoff
from tempnode.http import HttpError, basic_auth, urlencode
from tempnode.profiles import expand_path

_TRIES = const(3)
_JITTER_PERCENT = const(10)
_RETRY_BASE_MS = const(2000)
_RETRY_CAP_MS = const(600000)  # 10 min
_DEAD_FLOOR_MS = const(900000)  # 15 min between attempts with a refused credential, at least
_DEAD_CAP_MS = const(21600000)  # 6 h, at most
_TRANSIENT_ERRORS = ("temporarily_unavailable", "server_error")
_WHAT = {
    "refresh_token": "the stored refresh token",
    "client_credentials": "the stored client credentials",
    "access_token": "the stored access token",
}


class TokenManager:
    def __init__(self, profile, cloud, secrets, store, clock, renew_fraction=0.75):
        self.profile = profile
        self.cloud = cloud
        self.secrets = secrets
        self.store = store
        self.clock = clock
        self.renew_fraction = renew_fraction
        self.renewals = 0
        self._renew_at_ms = None
        self._refused = None  # the access token the cloud last rejected
        self._retry = Backoff(_RETRY_BASE_MS, _RETRY_CAP_MS)
        self._dead = Backoff(_DEAD_FLOOR_MS, _DEAD_CAP_MS, _DEAD_FLOOR_MS)
        if store.needs_provisioning():
            self._dead.failed(clock.monotonic_ms())

    def token(self, session, deadline_ms):
        """A usable access token; renews first when one is due, missing or in doubt."""
        store = self.store
        if store.unsaved:
            store.save()
        if store.needs_provisioning():
            self._recover(session, deadline_ms)
        token = store.access_token()
        if token is None or token == self._refused or store.data.get("refreshing") or self._due():
            self._refresh(session, deadline_ms)
        return store.access_token()

    def rejected(self, session, token, deadline_ms):
        """The cloud rejected `token` (expired, revoked): renew, unless that already happened."""
        if token != self.store.access_token():
            return
        self._refused = token
        self._renew_at_ms = None
        self._refresh(session, deadline_ms)

    def renew(self, session, deadline_ms):
        """Renew now (unless the credential is known to be refused: see `token`)."""
        reason = self.store.needs_provisioning()
        if reason:
            raise redact.LinkError("needs provisioning: %s" % reason, False)
        self._refresh(session, deadline_ms)

    def _refresh(self, session, deadline_ms):
        store = self.store
        grant = self.profile["grants"].get(store.kind())
        if grant is None:
            self._give_up(
                "the cloud rejected %s, which cannot be renewed on the device with "
                "this cloud" % _what(store.kind())
            )
        wait = self._retry.wait_ms(self.clock.monotonic_ms())
        if wait:
            raise redact.LinkError("token renewal: next try in %d s" % _seconds(wait))
        store.begin_refresh()
        reread = False
        for attempt in range(1, _TRIES + 1):
            try:
                reply = self._send(session, grant, deadline_ms)
            except HttpError as e:
                # Unknown outcome: present the same token again at once (a grace window
                # returns the same new pair); DNS failures and TLS refusals sent nothing.
                if e.transient and e.kind != "dns" and attempt < _TRIES:
                    continue
                self._retry.failed(self.clock.monotonic_ms())
                raise
            body = reply.json()
            body = body if isinstance(body, dict) else {}
            if 200 <= reply.status < 300:
                parsed = self._parse(body)
                if parsed is not None:
                    return self._keep(parsed)
                continue  # a reply that cannot be read is as good as lost: same token again
            error = str(body.get("error") or body.get("err") or "HTTP %d" % reply.status)
            self._raise_if_busy(reply, error)
            # Refused for good, unless another boot or the host tools stored a newer one.
            if reread or not store.load() or store.needs_provisioning():
                self._give_up("the cloud rejected %s (%s)" % (_what(store.kind()), error))
            reread = True
            grant = self.profile["grants"].get(store.kind(), grant)
            store.begin_refresh()
        self._retry.failed(self.clock.monotonic_ms())
        raise redact.LinkError("token renewal: no usable reply in %d tries" % _TRIES)

    def _raise_if_busy(self, reply, error):
        """5xx, 429 and the RFC 6749 §5.2 transient errors: back off, the cloud's way."""
        if reply.status == 429 or reply.status >= 500 or error in _TRANSIENT_ERRORS:
            retry_after_ms = reply.retry_after_ms()
            waited = self._retry.failed(self.clock.monotonic_ms(), retry_after_ms)
            raise redact.LinkError(
                "token renewal: the cloud is busy (%d %s); next try in %d s"
                % (reply.status, error, _seconds(waited)),
                True,
                retry_after_ms,
            )

    def status(self):
        """Token state for `tempnode.status()`: no secret, only facts and times."""
        now = self.clock.monotonic_ms()
        store = self.store
        state = "none"
        if store.access_token() is not None:
            state = "age unknown" if store.received_ms is None else "valid"
        renew_in = None if self._renew_at_ms is None else _seconds(self._renew_at_ms - now)
        return {
            "credential": store.kind(),
            "access_token": state,
            "renewal_in_s": renew_in,
            "renewals": self.renewals,
            "refresh_pending": bool(store.data.get("refreshing")),
            "needs_provisioning": store.needs_provisioning(),
            "retry_in_s": _seconds(self._retry.wait_ms(now)),
        }

    def _due(self):
        return self._renew_at_ms is not None and self.clock.monotonic_ms() >= self._renew_at_ms

    def _send(self, session, grant, deadline_ms):
        client, fields = grant
        pairs = [(name, self._source(source, True)) for name, source in fields]
        if client is not None:
            client = (self._source(client[0], True), self._source(client[1], False))
        return post_token_request(
            session, self.profile, self.cloud, None, pairs, client, deadline_ms
        )

    def _source(self, source, required):
        if source[0] == "=":
            return source[1:]
        where, name = source.split(".", 1)
        table = {"config": self.cloud, "secrets": self.secrets, "credential": self.store.data}
        value = table[where].get(name)
        if value is None and required:
            raise redact.LinkError("token renewal needs %s, which is missing" % source, False)
        return value

    def adopt(self, body):
        """Make a provisioning token reply (device flow) the stored credential."""
        parsed = self._parse(body)
        if parsed is None:
            raise redact.LinkError("the device flow's token reply holds no access token")
        access, refresh, lifetime = parsed
        now = self.clock.monotonic_ms()
        kind = "refresh_token" if refresh else "access_token"
        fields = {"refresh_token": refresh, "access_token": access, "expires_in": lifetime}
        self.store.store_provisioned(kind, fields, now)
        self._retry.succeeded()
        self._dead.succeeded()
        self._schedule(lifetime, now, "credential stored")

    def _keep(self, parsed):
        access, refresh, lifetime = parsed
        if self.store.kind() != "refresh_token":
            refresh = None
        now = self.clock.monotonic_ms()
        self.store.store_renewal(access, lifetime, refresh, now)
        self._retry.succeeded()
        self._dead.succeeded()
        self.renewals += 1
        self._schedule(lifetime, now, "token renewed")

    def _parse(self, body):
        """(access token, refresh token or None, lifetime in s or None) of a token reply, or
        None when it holds no access token. No new refresh token means keep the old one
        (RFC 6749 §6)."""
        access_key, refresh_key, lifetime_key = self.profile["reply"]
        access = body.get(access_key)
        if not isinstance(access, str) or not access:
            return None
        refresh = body.get(refresh_key) if refresh_key else None
        refresh = refresh if isinstance(refresh, str) and refresh else None
        lifetime = lifetime_seconds(body.get(lifetime_key) if lifetime_key else None)
        return redact.secret(access), redact.secret(refresh), lifetime

    def _schedule(self, lifetime, now, event):
        if lifetime is None:
            self._renew_at_ms = None
            redact.log("%s (no lifetime given: renewed when the cloud rejects it)" % event)
            return
        lifetime_ms = lifetime * 1000
        jitter = lifetime_ms * _JITTER_PERCENT * random.getrandbits(10) // (100 * 1024)
        self._renew_at_ms = now + int(lifetime_ms * self.renew_fraction) - jitter
        redact.log("%s (next renewal in %s)" % (event, _span(self._renew_at_ms - now)))

    def _recover(self, session, deadline_ms):
        store = self.store
        if store.load() and not store.needs_provisioning():
            redact.log("new credential found in %s" % store.path)
            self._dead.succeeded()
            return
        reason = store.needs_provisioning()
        now = self.clock.monotonic_ms()
        if store.problem or self._dead.wait_ms(now):
            raise redact.LinkError("needs provisioning: %s" % reason, False)
        self._refresh(session, deadline_ms)  # a refusal counts in `_dead` again (`_give_up`)
        redact.log("the cloud accepts %s again" % _what(store.kind()))

    def _give_up(self, reason):
        store = self.store
        how = (
            "run tempnode.provision()"
            if self.profile["device_flow"]
            else ("provision it from the host (tempnode provision)")
        )
        self._renew_at_ms = None
        if store.needs_provisioning() != reason:
            store.mark_needs_provisioning(reason)
        self._dead.failed(self.clock.monotonic_ms())
        redact.log("NEEDS PROVISIONING: %s; readings are kept; %s" % (reason, how))
        raise redact.LinkError("needs provisioning: " + reason, False)


def post_token_request(session, profile, cloud, path, pairs, client, deadline_ms):
    """POST `pairs` to the token endpoint (or `path`) in the profile's encoding.

    `client` is (id, secret) for HTTP Basic client authentication (RFC 6749 §2.3.1), or None;
    a client without a secret is public and sends its id in the body (§3.2.1)."""
    headers = {"Accept": "application/json"}
    if client is not None and client[1]:
        headers["Authorization"] = basic_auth(client[0], client[1])
    elif client is not None and client[0]:
        pairs = pairs + [("client_id", client[0])]
    if profile["token_body"] == "json":
        headers["Content-Type"] = "application/json"
        body = json.dumps(dict(pairs)).encode()
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(pairs)
    path = path or expand_path(profile["token_path"], cloud)
    return session.request("POST", path, body, deadline_ms, headers)


def lifetime_seconds(value):
    """`expires_in` as a positive int of seconds, or None (missing, zero, not a number);
    RFC 6749 §5.1 says a number, some servers send a string."""
    try:
        seconds = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def _what(kind):
    return _WHAT.get(kind, "the stored credential")


def _seconds(ms):
    return max(0, (ms + 999) // 1000)


def _span(ms):
    if ms < 10000:
        return "%.1f s" % (max(0, ms) / 1000)
    seconds = _seconds(ms)
    return "%d min" % (seconds // 60) if seconds >= 120 else "%d s" % seconds
