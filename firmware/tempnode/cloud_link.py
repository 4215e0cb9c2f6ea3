"""The device's link to its cloud: upload readings, keep the credential alive, provision.

    link = CloudLink(config, secrets, clock, store_dir)
    confirmed = link.upload(readings, deadline_ms, dropped)  # seqs safe to forget
    ...                                                      # more batches, same connection
    link.close()                                             # end of the upload session
    link.heal(deadline_ms)     # while needs-provisioning: a step towards a working credential
    link.status()                                            # no secrets: a dict of facts
    link.provision(deadline_ms, blink)                       # device flow (RFC 8628), blocking

`config` is `config.json` (uses `device_id` and `cloud`: `profile`, `base_url`, `ca`,
`insecure_tls`, `insecure_http`, `client_id`, `org`/`app` (Usergrid), `app_id` (Speckle));
`secrets` is `secrets.json` (`client_secret`, `app_secret`: only what the profile's grants
name). `store_dir` holds `credential.json` and the CA file.

One upload session = the `upload` calls up to `close()`: they share one connection (one TLS
handshake when the cloud keeps it alive), one DNS lookup, and the token renewal if one is due.
Every call takes a deadline on `clock.monotonic_ms()` that bounds all its network steps.

`upload` returns the seqs the cloud confirmed, or raises `LinkError` (one line, no secret, with
its outcome, `tempnode.outcomes`). Nothing is lost on any failure: the caller forgets only what
was returned. Every request the link makes, for readings, a renewal or the device flow, passes
one gate: after a failure the link refuses to try again before the backoff for that outcome
(`tempnode.backoff.POLICY`, Retry-After honoured) has passed, without touching the network
(outcome "deferred"). The gate and the slower schedules behind needs-provisioning survive a
reset through `saved_state()` / `restore()` (`tempnode.boot_state`).

With a refused credential the link stays in needs-provisioning and `upload` raises at once,
until `heal` finds a new credential: one written to `credential.json` by the host tools, the
refused one accepted again at its slow retry, or a device flow approved by a person.
"""

from micropython import const

from tempnode import atomic, outcomes, profiles
from tempnode.backoff import Backoff
from tempnode.credential_store import CredentialStore
from tempnode.http import Session
from tempnode.redact import LinkError
from tempnode.tokens import TokenManager
from tempnode.uploader import Uploader

_PROVISION_MS = const(900000)  # how long a device-flow code may wait for approval, at most
_HEAL_BASE_MS = const(60000)  # after a code expired unapproved: the next one a minute later,
_HEAL_CAP_MS = const(3600000)  # ... doubling up to an hour
CREDENTIAL_FILE = "credential.json"


class CloudLink:
    def __init__(self, config, secrets, clock, store_dir="."):
        cloud = config["cloud"]
        self.cloud = cloud
        self.clock = clock
        self.profile = profiles.for_cloud(cloud)
        self._store_dir = store_dir
        self._session = None
        self.store = CredentialStore(_join(store_dir, CREDENTIAL_FILE))
        self.tokens = TokenManager(self.profile, cloud, secrets, self.store, clock)
        self.uploader = Uploader(self.profile, config["device_id"], self.tokens, clock)
        self.secrets = secrets
        self.gate = Backoff.by_outcome()
        self._heal_backoff = Backoff(_HEAL_BASE_MS, _HEAL_CAP_MS)
        self._flow = None
        self.last_error = None
        try:
            self._session = self.session  # its buffers now, while the heap is in one piece
        except LinkError:
            pass  # a missing CA: each step that needs the session says so

    def __repr__(self):
        return "<CloudLink %s %s>" % (self.cloud["profile"], self.cloud["base_url"])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def session(self):
        """The HTTP session, made with the link; a missing CA file is a `LinkError` of outcome
        "config" for each step that needs it (backed off, tried again: a deploy may bring it),
        not a crash at boot."""
        if self._session is None:
            cloud = self.cloud
            insecure_tls = cloud.get("insecure_tls", False)
            ca = _read_ca(cloud, self._store_dir, insecure_tls)
            self._session = Session(cloud["base_url"], self.clock, ca, insecure_tls)
        return self._session

    def upload(self, readings, deadline_ms, dropped=0):
        """Post `readings` (wire-form dicts); return the list of seqs the cloud stored."""
        if not readings:
            return []
        self._through_gate()
        try:
            confirmed = self.uploader.post(self.session, readings, dropped, deadline_ms)
        except MemoryError:
            error = LinkError(
                "upload: out of memory with a batch of %d readings" % len(readings), "memory"
            )
            self.failed(error)
            raise error
        except LinkError as e:
            self.failed(e)
            raise
        self.gate.succeeded()
        self.last_error = None
        return confirmed

    def failed(self, error):
        """Count a failed step (`error`: a LinkError) in the gate, by its outcome: once,
        though the link's own steps count theirs and the logger hands every error here too."""
        self.close()
        if error.counted:
            return
        error.counted = True
        outcome = error.outcome
        if outcome in (outcomes.DEADLINE, outcomes.DEFERRED):
            return
        self.last_error = str(error)
        if outcome == "memory":
            outcome = outcomes.TRANSIENT
        if outcome != outcomes.CREDENTIAL_REFUSED:  # that one has its own, slower schedule
            self.gate.failed(self.clock.monotonic_ms(), outcome, error.retry_after_ms)

    def close(self):
        """End the upload session: close the connection (do this after the last batch)."""
        if self._session is not None:
            self._session.close()

    def wait_ms(self):
        """How long the gate still holds the next request back (0: open)."""
        return self.gate.wait_ms(self.clock.monotonic_ms())

    def last_reply_ms(self):
        """When the cloud last answered anything, this boot (monotonic ms), or None."""
        return None if self._session is None else self._session.last_reply_ms

    def needs_provisioning(self):
        """Why the cloud refused the stored credential, or None."""
        return self.store.needs_provisioning()

    def heal(self, deadline_ms):
        """One step towards a working credential while needs-provisioning; never blocks longer
        than one request. True once the credential works: a new one is in `credential.json`,
        the cloud accepts the refused one at its slow retry, or a device flow (its URL and code
        printed on the console) was approved. False while waiting (see `next_heal_ms`)."""
        if not self.needs_provisioning():
            return True
        self._through_gate()
        try:
            if self.tokens.recover(self.session, deadline_ms):
                self._flow = None
                return True
            if self.profile["device_authorization_url"] is None:
                return False
            return self._flow_step(deadline_ms)
        except LinkError as e:
            self.failed(e)
            raise

    def _flow_step(self, deadline_ms):
        from tempnode.device_flow import DeviceFlow

        now = self.clock.monotonic_ms()
        if self._heal_backoff.wait_ms(now):
            return False
        flow = self._flow
        try:
            if flow is None or flow.expired():
                flow = self._flow = DeviceFlow(
                    self.session, self.profile, self.cloud, self.secrets, self.clock
                )
                flow.start(deadline_ms)
                return False
            if not flow.due():
                return False
            body = flow.poll(deadline_ms)
        except LinkError as e:
            if e.outcome == outcomes.CREDENTIAL_REFUSED:  # denied or expired: a new code later
                self._flow = None
                self._heal_backoff.failed(self.clock.monotonic_ms())
            elif flow is not None and not flow.next_poll_ms:
                self._flow = None  # the start failed: it is tried again through the gate
            raise
        if body is None:
            return False
        self._flow = None
        try:
            self.tokens.adopt(body)
        except LinkError:
            self._heal_backoff.failed(self.clock.monotonic_ms())  # a new code, later
            raise
        self._heal_backoff.succeeded()
        self.gate.succeeded()
        return True

    def next_heal_ms(self):
        """When `heal` has something to do next (monotonic ms)."""
        now = self.clock.monotonic_ms()
        later = self.tokens.dead.wait_ms(now)
        if self._flow is not None:
            later = min(later, max(0, self._flow.next_poll_ms - now))
        elif self.profile["device_authorization_url"] is not None:
            later = min(later, self._heal_backoff.wait_ms(now))
        return now + max(self.gate.wait_ms(now), later)

    def provision(self, deadline_ms=None, blink=None):
        """Get a new credential with the device flow (prints the URL and code to approve)."""
        from tempnode import device_flow

        if deadline_ms is None:
            deadline_ms = self.clock.monotonic_ms() + _PROVISION_MS
        try:
            body = device_flow.run(
                self.session,
                self.profile,
                self.cloud,
                self.secrets,
                self.clock,
                deadline_ms,
                blink,
            )
            self.tokens.adopt(body)
        finally:
            self.close()
        self.gate.succeeded()

    def saved_state(self):
        """What a reset must not forget: the (failures, seconds to wait) of each schedule."""
        now = self.clock.monotonic_ms()
        return tuple(b.state(now) for b in self._schedules())

    def restore(self, state):
        """Take up `saved_state()` from before a reset."""
        now = self.clock.monotonic_ms()
        schedules = self._schedules()
        for i in range(min(len(schedules), len(state))):
            failures, wait_s = state[i]
            if failures:
                schedules[i].restore(failures, wait_s, now)

    def _schedules(self):
        return (self.gate, self.tokens.dead, self._heal_backoff)

    def status(self):
        """The link's state for `tempnode.status()`: facts and times, never a secret."""
        state = self.tokens.status()
        state["profile"] = self.cloud["profile"]
        state["cloud_retry_in_s"] = self.gate.wait_ms(self.clock.monotonic_ms()) // 1000
        state["last_error"] = self.last_error
        state["handshakes"] = 0 if self._session is None else self._session.connections
        return state

    def _through_gate(self):
        wait = self.gate.wait_ms(self.clock.monotonic_ms())
        if wait:
            raise LinkError(
                "waiting %d s before the next try (%s)" % (wait // 1000 + 1, self.last_error),
                outcomes.DEFERRED,
            )


def _read_ca(cloud, store_dir, insecure_tls):
    url = cloud["base_url"]
    if url.startswith("http://"):
        if not cloud.get("insecure_http"):
            raise LinkError(
                "cloud.base_url is http:// but cloud.insecure_http is not true", outcomes.CONFIG
            )
        return None
    if insecure_tls:
        return None
    name = cloud.get("ca")
    ca = atomic.read_bytes(_join(store_dir, name)) if name else None
    if not ca:
        raise LinkError(
            "no CA file %s on the device: TLS is always verified" % name, outcomes.CONFIG
        )
    return ca


def _join(folder, name):
    return name if folder in ("", ".") else folder.rstrip("/") + "/" + name
