"""The token manager: keeps an access token alive from the stored credential, one refresh at once.

    tokens = TokenManager(profile, cloud, secrets, store, clock)
    token = tokens.token(session, deadline_ms)    # a usable access token (renewed first if due)
    tokens.rejected(session, token, deadline_ms)  # a resource call said it expired: renew once
    tokens.recover(session, deadline_ms)          # while needs-provisioning: is it over?
    reply, outcome = tokens.resource(session, "POST", url, body_for, deadline_ms, headers)

Proactive renewal. A token's lifetime (`expires_in`) is counted on the monotonic clock from
the moment its request was sent (the server issued it later, so the count errs early), less
`_ROUNDING_MS` (servers that round `exp` down to the second) and the request's own travel
time; the token is renewed once `renew_fraction` of that has passed, minus a random jitter of
up to `_JITTER_PERCENT` % of it, so a fleet does not renew in step and the margin is always
smaller than the lifetime (no renewal storm). A wrong RTC cannot cause or prevent a renewal.
When the wall time is known, the token's issue time is stored with it (`issued_at`), so its
age survives deep sleep and a reset; after a power cut (time unknown) a stored token is used
until the cloud rejects it, as is one from a cloud that gives no lifetime (Speckle).

An early renewal that fails for any reason but a refusal leaves the current token in use until
it really expires: the next early try follows the backoff policy, uploads go on meanwhile.

Reactive renewal. `resource()` makes a request with the access token: when the reply matches
the profile's "expired" rules, `rejected()` renews the token (unless another call already
did) and the request goes once more; a just-renewed token rejected again is a refusal.

A refresh. `credential.json` records `refreshing` before the request is sent, and the request
is sent only once the memory its reply needs has been found: the reply's body streams through
the HTTP session's preallocated buffers, and a block for each new token, as long as the one it
replaces and a margin, is allocated and let go just before sending (the single loop allocates
nothing else that large in between, and the collector hands those blocks to the new tokens),
so a rotated refresh token is not lost to a MemoryError on its way in. When the outcome is
unknown (a timeout or reset after sending, an unreadable success) the same refresh token is
presented once more at once: a cloud with a rotation grace window then returns the same new
pair (clouds-and-tokens.md, "Rotation and the lost reply"); after that the link backs off, and
after a reboot the marker makes the device present the same token first. A reply is stored on
flash (`store_renewal`) before its access token is handed out.

Refusals. Only an explicit refusal (`tempnode.outcomes`: the profile's `refused` rules, RFC
6749 §5.2) ends in needs-provisioning: the file is re-read first (another boot or the host
tools may have stored a newer credential) and the request tried once more if it changed;
otherwise the device says so on the console, keeps its readings, and from then on `recover()`
looks for a new credential in `credential.json` and presents the refused one again only at the
slow rate of the backoff policy, in case the refusal was the cloud's mistake. A 3xx, a 5xx, a
timeout or garbage never refuses a credential: they are the link's to back off.
"""

import random

from micropython import const

from tempnode import outcomes, redact
from tempnode.backoff import Backoff
from tempnode.http import HttpError, basic_auth, urlencode

_JITTER_PERCENT = const(10)
_ROUNDING_MS = const(1000)  # `exp` rounded down to the second (RFC 7519 NumericDate)
_TOKEN_MARGIN = const(256)  # a new token may be this much longer than the one it replaces
_NOTHING_SENT = ("dns", "connect", "tls", "deadline")
_TOKENS = ("access_token", "refresh_token")
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
        self._expires_at_ms = None
        self._refused = None  # the access token the cloud last rejected
        self._early = Backoff.by_outcome()  # early renewals that failed
        self.dead = Backoff.by_outcome()  # presenting a refused credential again
        if store.needs_provisioning():  # refused before this boot: no attempt at once
            self.dead.failed(clock.monotonic_ms(), outcomes.CREDENTIAL_REFUSED)

    def token(self, session, deadline_ms):
        """A usable access token; renews first when one is due, missing or in doubt."""
        store = self.store
        if store.unsaved:
            store.save()
        reason = store.needs_provisioning()
        if reason:
            raise redact.LinkError("needs provisioning: %s" % reason, outcomes.CREDENTIAL_REFUSED)
        self._schedule_stored()
        token = store.access_token()
        now = self.clock.monotonic_ms()
        if token is None or token == self._refused or store.data.get("refreshing"):
            self._refresh(session, deadline_ms)
        elif self._expires_at_ms is not None and now >= self._expires_at_ms:
            self._refresh(session, deadline_ms)
        elif self._renew_at_ms is not None and now >= self._renew_at_ms:
            self._renew_early(session, deadline_ms)
        return store.access_token()

    def resource(self, session, method, target, body_for, deadline_ms, headers=None, **reply):
        """`(reply, outcome)` of a request to a resource with the access token. `body_for()`
        makes the body (again for the retry: a batch carries its send time); `reply` is what
        `http.Session.request` takes for the reply (`fields`, `into`)."""
        for attempt in range(2):
            token = self.token(session, deadline_ms)
            sent = {"Authorization": "Bearer " + token}
            if headers:
                sent.update(headers)
            answer = session.request(method, target, body_for(), deadline_ms, sent, **reply)
            outcome = outcomes.classify(self.profile, outcomes.INGEST, answer)
            if outcome != outcomes.TOKEN_REJECTED:
                return answer, outcome
            if attempt:
                return answer, outcomes.REFUSED  # a just-renewed token: renewing cannot help
            self.rejected(session, token, deadline_ms)

    def rejected(self, session, token, deadline_ms):
        """The cloud rejected `token` (expired, revoked): renew, unless that already happened."""
        if token != self.store.access_token():
            return
        self._refused = token
        self._renew_at_ms = self._expires_at_ms = None
        self._refresh(session, deadline_ms)

    def renew(self, session, deadline_ms):
        """Renew now, whatever the schedule (unless the credential is known to be refused)."""
        reason = self.store.needs_provisioning()
        if reason:
            raise redact.LinkError("needs provisioning: %s" % reason, outcomes.CREDENTIAL_REFUSED)
        self._refresh(session, deadline_ms)

    def recover(self, session, deadline_ms):
        """While the credential is refused: True once it works again, because a new one is in
        `credential.json` or the cloud accepts the refused one at its slow retry."""
        store = self.store
        if store.load() and not store.needs_provisioning():
            redact.log("new credential found in %s" % store.path)
            self.dead.succeeded()
            self._renew_at_ms = self._expires_at_ms = None
            return True
        if store.problem or self.dead.wait_ms(self.clock.monotonic_ms()):
            return False
        if self.profile["grants"].get(store.kind()) is None:
            return False  # nothing the device could present
        try:
            self._refresh(session, deadline_ms)
        except redact.LinkError as e:
            if e.outcome == outcomes.CREDENTIAL_REFUSED:
                return False
            raise
        redact.log("the cloud accepts %s again" % _what(store.kind()))
        return True

    def adopt(self, body, sent_ms=None):
        """Make a provisioning token reply (device flow) the stored credential."""
        parsed = self._parse(body)
        if parsed is None:
            raise redact.LinkError(
                "the device flow's token reply holds no access token", outcomes.GARBAGE
            )
        access, refresh, lifetime = parsed
        if refresh is None and "refresh_token" in self.profile["grants"]:
            # OpenID Connect servers issue one only for `offline_access` (OIDC Core §11).
            raise redact.LinkError(
                "the cloud approved this device but gave no refresh token, so the credential "
                "would die with its first access token: add offline_access to cloud.scope "
                "(now %s), or allow refresh tokens for this client on the server; nothing was "
                "stored" % _quoted(self.profile["scope"]),
                outcomes.CONFIG,
            )
        now = self.clock.monotonic_ms()
        sent_ms = now if sent_ms is None else sent_ms
        kind = "refresh_token" if refresh else "access_token"
        fields = {"refresh_token": refresh, "access_token": access, "expires_in": lifetime}
        fields["issued_at"] = self.clock.to_wall(sent_ms)
        self.store.store_provisioned(kind, fields)
        self._early.succeeded()
        self.dead.succeeded()
        self._schedule(lifetime, sent_ms, now - sent_ms, "credential stored")

    def status(self):
        """Token state for `tempnode.status()`: no secret, only facts and times."""
        now = self.clock.monotonic_ms()
        store = self.store
        state = "none"
        if store.access_token() is not None:
            state = "valid" if self._expires_at_ms is not None else "age unknown"
        renew_in = None if self._renew_at_ms is None else _seconds(self._renew_at_ms - now)
        return {
            "credential": store.kind(),
            "access_token": state,
            "renewal_in_s": renew_in,
            "renewals": self.renewals,
            "refresh_pending": bool(store.data.get("refreshing")),
            "needs_provisioning": store.needs_provisioning(),
            "retry_in_s": _seconds(max(self._early.wait_ms(now), self.dead.wait_ms(now))),
        }

    # -- renewals

    def _renew_early(self, session, deadline_ms):
        now = self.clock.monotonic_ms()
        if self._early.wait_ms(now):
            return
        try:
            self._refresh(session, deadline_ms)
        except redact.LinkError as e:
            if e.outcome in (outcomes.CREDENTIAL_REFUSED, outcomes.DEADLINE):
                raise
            wait = self._early.failed(self.clock.monotonic_ms(), e.outcome, e.retry_after_ms)
            left = _seconds(self._expires_at_ms - self.clock.monotonic_ms())
            redact.log(
                "early token renewal failed (%s); the current token stays in use for %d s, "
                "next try in %d s" % (e, left, _seconds(wait))
            )

    def _refresh(self, session, deadline_ms):
        store = self.store
        grant = self.profile["grants"].get(store.kind())
        if grant is None:
            self._give_up(
                "the cloud rejected %s, which cannot be renewed on the device with "
                "this cloud" % _what(store.kind())
            )
        store.begin_refresh()
        reread = False
        for attempt in range(2):
            sent_ms = self.clock.monotonic_ms()
            self._reserve_reply_memory()
            try:
                reply = self._send(session, grant, deadline_ms)
            except HttpError as e:
                # A reply lost after the request went out: present the same token once more
                # at once (a grace window returns the same new pair). Nothing was sent when
                # the name, the connection or the certificate failed.
                if attempt or e.kind in _NOTHING_SENT:
                    raise
                continue
            except MemoryError:
                raise redact.LinkError(
                    "token renewal: out of memory while receiving the reply; the same token "
                    "is presented again after a pause",
                    outcomes.TRANSIENT,
                )
            outcome = outcomes.classify(self.profile, outcomes.TOKEN, reply)
            if outcome == outcomes.OK:
                parsed = self._parse(reply.json())
                if parsed is not None:
                    return self._keep(parsed, sent_ms)
                if attempt:
                    raise outcomes.failure(outcomes.GARBAGE, "token renewal", reply)
                continue  # an unreadable success is as good as lost: the same token again
            if outcome != outcomes.CREDENTIAL_REFUSED:
                raise outcomes.failure(outcome, "token renewal", reply)
            # Refused for good, unless another boot or the host tools stored a newer one.
            if reread or not store.load() or store.needs_provisioning():
                self._give_up(
                    "the cloud rejected %s (%s)"
                    % (_what(store.kind()), outcomes.error_code(reply) or reply.status)
                )
            reread = True
            grant = self.profile["grants"].get(store.kind(), grant)
            store.begin_refresh()
        raise redact.LinkError("token renewal: no usable reply in 2 tries", outcomes.GARBAGE)

    def _reserve_reply_memory(self):
        """Make sure the new tokens of a reply can be decoded before its request goes out."""
        import gc

        gc.collect()
        data = self.store.data
        try:
            blocks = [bytearray(len(data.get(name) or "") + _TOKEN_MARGIN) for name in _TOKENS]
            del blocks  # the new tokens take this memory back at the next collection
        except MemoryError:
            raise redact.LinkError(
                "token renewal: not enough free memory to receive the cloud's reply; nothing "
                "was sent",
                outcomes.TRANSIENT,
            )

    def _send(self, session, grant, deadline_ms):
        client, fields = grant
        pairs = [(name, self._source(source, True)) for name, source in fields]
        if client is not None:
            client = (self._source(client[0], True), self._source(client[1], False))
        return post_token_request(
            session, self.profile, None, pairs, client, deadline_ms, self._fields()
        )

    def _fields(self):
        return tuple(key for key in self.profile["reply"] if key)

    def _source(self, source, required):
        if source[0] == "=":
            return source[1:]
        where, name = source.split(".", 1)
        table = {"config": self.cloud, "secrets": self.secrets, "credential": self.store.data}
        value = table[where].get(name)
        if value is None and required:
            raise redact.LinkError(
                "token renewal needs %s, which is missing" % source, outcomes.CONFIG
            )
        return value

    def _keep(self, parsed, sent_ms):
        access, refresh, lifetime = parsed
        if self.store.kind() != "refresh_token":
            refresh = None
        now = self.clock.monotonic_ms()
        issued_at = self.clock.to_wall(sent_ms)
        self.store.store_renewal(access, lifetime, refresh, issued_at)
        self._early.succeeded()
        self.dead.succeeded()
        self.renewals += 1
        self._schedule(lifetime, sent_ms, now - sent_ms, "token renewed")

    def _parse(self, body):
        """(access token, refresh token or None, lifetime in s or None) of a token reply, or
        None when it holds no access token. No new refresh token means keep the old one
        (RFC 6749 §6)."""
        if not isinstance(body, dict):
            return None
        access_key, refresh_key, lifetime_key = self.profile["reply"]
        access = body.get(access_key)
        if not isinstance(access, str) or not access:
            return None
        refresh = body.get(refresh_key) if refresh_key else None
        refresh = refresh if isinstance(refresh, str) and refresh else None
        lifetime = lifetime_seconds(body.get(lifetime_key) if lifetime_key else None)
        return redact.secret(access), redact.secret(refresh), lifetime

    # -- the schedule

    def _schedule(self, lifetime, sent_ms, travel_ms, event):
        if lifetime is None:
            self._renew_at_ms = self._expires_at_ms = None
            redact.log("%s (no lifetime given: renewed when the cloud rejects it)" % event)
            return
        usable_ms = max(0, lifetime * 1000 - _ROUNDING_MS - travel_ms)
        jitter = usable_ms * _JITTER_PERCENT * random.getrandbits(10) // (100 * 1024)
        self._expires_at_ms = sent_ms + usable_ms
        self._renew_at_ms = sent_ms + int(usable_ms * self.renew_fraction) - jitter
        left = self._renew_at_ms - self.clock.monotonic_ms()
        if event:
            redact.log("%s (next renewal in %s)" % (event, _span(left)))

    def _schedule_stored(self):
        """A stored token of known issue time (`issued_at`), once the wall time is known: its
        age survives deep sleep and resets where the clock is trusted."""
        data = self.store.data
        issued_at = data.get("issued_at")
        if self._expires_at_ms is not None or not isinstance(issued_at, int):
            return
        lifetime = lifetime_seconds(data.get("expires_in"))
        wall = self.clock.wall_time()
        if lifetime is None or wall is None or self.store.access_token() is None:
            return
        now = self.clock.monotonic_ms()
        self._schedule(lifetime, now - max(0, wall - issued_at) * 1000, 0, None)

    def _give_up(self, reason):
        store = self.store
        how = (
            "run tempnode.provision()"
            if self.profile["device_authorization_url"]
            else ("provision it from the host (tempnode provision)")
        )
        self._renew_at_ms = self._expires_at_ms = None
        if store.needs_provisioning() != reason:
            store.mark_needs_provisioning(reason)
            redact.log("NEEDS PROVISIONING: %s; readings are kept; %s" % (reason, how))
        self.dead.failed(self.clock.monotonic_ms(), outcomes.CREDENTIAL_REFUSED)
        raise redact.LinkError("needs provisioning: " + reason, outcomes.CREDENTIAL_REFUSED)


def post_token_request(session, profile, target, pairs, client, deadline_ms, fields):
    """POST `pairs` to `target` (the token endpoint when None) in the profile's encoding; the
    reply's JSON `fields` are kept.

    `client` is (id, secret), or None; it authenticates as `profile["client_auth"]` says
    (RFC 6749 §2.3.1): HTTP Basic, or both in the body ("client_secret_post"). A client
    without a secret, or with "none", is public and sends only its id in the body (§3.2.1)."""
    headers = {"Accept": "application/json"}
    if client is not None:
        client_id, secret = client
        how = profile["client_auth"] if secret else "none"
        if how == "client_secret_basic":
            headers["Authorization"] = basic_auth(client_id, secret)
        elif client_id:
            pairs = pairs + [("client_id", client_id)]
            if how == "client_secret_post":
                pairs.append(("client_secret", secret))
    if profile["token_body"] == "json":
        import json

        headers["Content-Type"] = "application/json"
        body = json.dumps(dict(pairs))
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(pairs)
    target = target or profile["token_url"]
    return session.request("POST", target, body, deadline_ms, headers, fields)


def lifetime_seconds(value):
    """`expires_in` as a positive int of seconds, or None (missing, zero, not a number);
    RFC 6749 §5.1 says a number, some servers send a string."""
    try:
        seconds = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def _quoted(text):
    return '"%s"' % text


def _what(kind):
    return _WHAT.get(kind, "the stored credential")


def _seconds(ms):
    return max(0, (ms + 999) // 1000)


def _span(ms):
    if ms < 10000:
        return "%.1f s" % (max(0, ms) / 1000)
    seconds = _seconds(ms)
    return "%d min" % (seconds // 60) if seconds >= 120 else "%d s" % seconds
