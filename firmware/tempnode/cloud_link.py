"""The device's link to its cloud: upload readings, keep the credential alive, provision.

    link = CloudLink(config, secrets, clock, store_dir)
    confirmed = link.upload(readings, deadline_ms, dropped)  # seqs safe to forget
    ...                                                      # more batches, same connection
    link.close()                                             # end of the upload session
    link.status()                                            # no secrets: a dict of facts
    link.provision(deadline_ms, blink)                       # device flow (RFC 8628)
    link.heal(deadline_ms)      # the same in steps, between samples, while needs-provisioning

`config` is `config.json` (uses `device_id` and `cloud`: `profile`, `base_url`, `ca`,
`insecure_tls`, `insecure_http`, `client_id`, `org`/`app` (Usergrid), `app_id` (Speckle));
`secrets` is `secrets.json` (`client_secret`, `app_secret`: only what the profile's grants
name). `store_dir` holds `credential.json` and
the CA file.

One upload session = the `upload` calls up to `close()`: they share one connection (one TLS
handshake when the cloud keeps it alive), one DNS lookup, and the token renewal if one is due.
Every call takes a deadline on `clock.monotonic_ms()` that bounds all its network steps.

`upload` returns the seqs the cloud confirmed, or raises `LinkError` (one line, no secret;
`transient` says whether a later try may work). Nothing is lost on any failure: the caller
forgets only what was returned. After a transient failure the link refuses to try again
before its backoff (full jitter, the cloud's Retry-After honoured) has passed, without
touching the network. With a refused credential the link stays in needs-provisioning
(see `tempnode.tokens`) and `upload` raises at once, until a new credential arrives.
"""

from micropython import const

from tempnode import atomic, profiles
from tempnode.backoff import Backoff
from tempnode.credential_store import CredentialStore
from tempnode.http import Session
from tempnode.redact import LinkError
from tempnode.tokens import TokenManager
from tempnode.uploader import Uploader

_RETRY_BASE_MS = const(2000)
_RETRY_CAP_MS = const(900000)  # 15 min
_PROVISION_MS = const(900000)  # how long a device-flow code may wait for approval, at most
_HEAL_BASE_MS = const(60000)  # after a code expired unapproved: the next one a minute later,
_HEAL_CAP_MS = const(3600000)  # ... doubling up to an hour
CREDENTIAL_FILE = "credential.json"


class CloudLink:
    def __init__(self, config, secrets, clock, store_dir="."):
        cloud = config["cloud"]
        self.cloud = cloud
        self.clock = clock
        self.profile = profiles.get(cloud["profile"])
        insecure_tls = cloud.get("insecure_tls", False)
        self.session = Session(
            cloud["base_url"], clock, _read_ca(cloud, store_dir, insecure_tls), insecure_tls
        )
        self.store = CredentialStore(_join(store_dir, CREDENTIAL_FILE))
        self.tokens = TokenManager(self.profile, cloud, secrets, self.store, clock)
        self.uploader = Uploader(self.profile, cloud, config["device_id"], self.tokens, clock)
        self.secrets = secrets
        self._backoff = Backoff(_RETRY_BASE_MS, _RETRY_CAP_MS)
        self._heal_backoff = Backoff(_HEAL_BASE_MS, _HEAL_CAP_MS)
        self._flow = None
        self.last_error = None

    def __repr__(self):
        return "<CloudLink %s %s>" % (self.cloud["profile"], self.cloud["base_url"])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def upload(self, readings, deadline_ms, dropped=0):
        """Post `readings` (wire-form dicts); return the list of seqs the cloud stored."""
        if not readings:
            return []
        wait = self._backoff.wait_ms(self.clock.monotonic_ms())
        if wait:
            raise LinkError("the cloud asked for a pause: next try in %d s" % (wait // 1000 + 1))
        try:
            confirmed = self.uploader.post(self.session, readings, dropped, deadline_ms)
        except LinkError as e:
            self.last_error = str(e)
            if e.transient:
                self._backoff.failed(self.clock.monotonic_ms(), e.retry_after_ms)
            self.session.close()
            raise
        self._backoff.succeeded()
        self.last_error = None
        return confirmed

    def close(self):
        """End the upload session: close the connection (do this after the last batch)."""
        self.session.close()

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
            self.session.close()
        self._backoff.succeeded()

    def needs_provisioning(self):
        """Why the cloud refused the stored credential, or None."""
        return self.tokens.store.needs_provisioning()

    def heal(self, deadline_ms):
        """One step of the device flow while the credential is refused: start it (the URL and
        code go to the console), or poll it when due. Never blocks longer than one request.
        True once a new credential is stored; False while waiting (see `next_heal_ms`)."""
        from tempnode.device_flow import DeviceFlow

        now = self.clock.monotonic_ms()
        if self.profile["device_flow"] is None or self._heal_backoff.wait_ms(now):
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
            if not e.transient:
                self._flow = None
                self._heal_backoff.failed(self.clock.monotonic_ms())
            raise
        if body is None:
            return False
        self.tokens.adopt(body)
        self._flow = None
        self._heal_backoff.succeeded()
        self._backoff.succeeded()
        return True

    def next_heal_ms(self):
        """When `heal` has something to do next (monotonic ms), or None."""
        if self._flow is not None:
            return self._flow.next_poll_ms
        wait = self._heal_backoff.wait_ms(self.clock.monotonic_ms())
        return self.clock.monotonic_ms() + wait if wait else None

    def status(self):
        """The link's state for `tempnode.status()`: facts and times, never a secret."""
        state = self.tokens.status()
        state["profile"] = self.cloud["profile"]
        state["cloud_retry_in_s"] = self._backoff.wait_ms(self.clock.monotonic_ms()) // 1000
        state["last_error"] = self.last_error
        state["handshakes"] = self.session.connections
        return state


def _read_ca(cloud, store_dir, insecure_tls):
    url = cloud["base_url"]
    if url.startswith("http://"):
        if not cloud.get("insecure_http"):
            raise LinkError("cloud.base_url is http:// but cloud.insecure_http is not true", False)
        return None
    if insecure_tls:
        return None
    name = cloud.get("ca")
    ca = atomic.read_bytes(_join(store_dir, name)) if name else None
    if not ca:
        raise LinkError("no CA file %s on the device: TLS is always verified" % name, False)
    return ca


def _join(folder, name):
    return name if folder in ("", ".") else folder.rstrip("/") + "/" + name
