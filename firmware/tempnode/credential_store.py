"""`credential.json`: the stored refresh credential and the current access token, power-safe.

The file is a JSON object, written by the device and by the host tools (`tempnode provision`):

| field | type | meaning |
|---|---|---|
- `kind` (str, required): how the device renews its access token.
  `refresh_token`: with `refresh_token` (the OAuth2 refresh grant, or Speckle's app refresh);
  `client_credentials`: with `client_id` + `client_secret` (the client credentials grant);
  `access_token`: it cannot (`spark2014`): when the cloud rejects `access_token`, the device
  needs provisioning.
- `refresh_token` (str, required for kind `refresh_token`): the current refresh token,
  rotating or not.
- `client_id`, `client_secret` (str, required for kind `client_credentials`): the device's
  confidential client.
- `access_token` (str or null; required for kind `access_token`): the current access token.
- `expires_in` (int or null): its lifetime in seconds as the cloud said at receipt.
- `issued_at` (int or null): Unix seconds when it was asked for, if the device knew the time;
  with `expires_in` it gives the token's age after deep sleep or a reset
  (`tempnode.tokens`).
- `refreshing` (bool, default false): true from just before a refresh request is sent until
  its result is stored. After a reboot the outcome is unknown, so the same refresh token is
  presented again at once.
- `needs_provisioning` (str or null): why the cloud refused the stored credential. The device
  then calls the token endpoint only at a slow rate until a new credential arrives.

Only `kind` and that kind's credential fields are required: a file written by the host tools
can be `{"kind": "refresh_token", "refresh_token": "..."}`.

Durability. Every write goes through `tempnode.atomic` (temporary name, close, rename), so a
power cut leaves the old file or the new one. A renewal is one write that replaces the old
refresh token by the new one together with the new access token: the old refresh token stays
on flash until the new one is there, and the new access token is not handed out until that
write has succeeded (`unsaved`). The file is rewritten only when something in it changes.

Every secret read is registered with `tempnode.redact`, and `repr()` of a store shows no
secret.
"""

from tempnode import atomic, redact

_SECRET_FIELDS = ("refresh_token", "client_secret", "access_token")
_REQUIRED = {
    "refresh_token": ("refresh_token",),
    "client_credentials": ("client_id", "client_secret"),
    "access_token": ("access_token",),
}


class CredentialStore:
    def __init__(self, path):
        self.path = path
        self.data = {}
        self.problem = None  # why the file cannot be used, or None
        self.unsaved = False  # `data` holds a renewal that is not on flash yet
        self.load()

    def __repr__(self):
        return "<CredentialStore %s kind=%s>" % (self.path, self.data.get("kind"))

    def load(self):
        """Read the file again; True when its credential differs from the one in memory.
        A renewal not yet on flash is newer than the file: it is kept, and False returned."""
        if self.unsaved:
            return False
        before = self.credential()
        try:
            data = atomic.read_json(self.path)
            self.problem = _check(data, self.path)
        except ValueError as e:
            data, self.problem = None, str(e)
        if self.problem is not None or not isinstance(data, dict):
            data = {}
        for name in _SECRET_FIELDS:
            redact.secret(data.get(name))
        self.data = data
        self.unsaved = False
        return self.credential() != before

    def credential(self):
        """The renewable part of the credential (kind and its fields), for comparisons."""
        kind = self.data.get("kind")
        fields = _REQUIRED.get(kind, ()) if isinstance(kind, str) else ()
        return (kind,) + tuple(self.data.get(name) for name in fields)

    def kind(self):
        return self.data.get("kind")

    def access_token(self):
        return None if self.unsaved else self.data.get("access_token")

    def needs_provisioning(self):
        """Why the credential cannot be used (missing, corrupt, refused), or None."""
        return self.problem or self.data.get("needs_provisioning")

    def begin_refresh(self):
        """Record on flash that a refresh is about to be sent (no write if already recorded)."""
        if not self.data.get("refreshing"):
            self._write(_updated(self.data, refreshing=True))

    def store_renewal(self, access_token, expires_in, refresh_token, issued_at=None):
        """Keep a token reply: new access token (and new refresh token, if any), durably."""
        data = _updated(
            self.data,
            access_token=redact.secret(access_token),
            expires_in=expires_in,
            issued_at=issued_at,
            refreshing=False,
            needs_provisioning=None,
        )
        if refresh_token:
            data["refresh_token"] = redact.secret(refresh_token)
        self.data = data
        self.unsaved = True
        self.save()

    def store_provisioned(self, kind, fields):
        """Replace the whole credential (device flow or `tempnode provision`)."""
        for name in _SECRET_FIELDS:
            redact.secret(fields.get(name))
        self.data = _updated(fields, kind=kind)
        self.problem = _check(self.data, self.path)
        self.unsaved = True
        self.save()

    def mark_needs_provisioning(self, reason):
        self._write(_updated(self.data, refreshing=False, needs_provisioning=reason))

    def save(self):
        """Write `data` to flash; raise `LinkError` (transient) when the flash refuses."""
        self._write(self.data)

    def _write(self, data):
        try:
            atomic.write_json(self.path, data)
        except OSError as e:
            raise redact.LinkError("cannot write %s (OSError %s)" % (self.path, e.args[0]))
        self.data = data
        self.unsaved = False


def _updated(data, **changes):
    copy = dict(data)
    copy.update(changes)
    return copy


def _check(data, path):
    if data is None:
        return "no %s: provision the device (tempnode.provision() or tempnode provision)" % path
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in _REQUIRED:
        return "%s has no valid kind (expected one of %s)" % (path, ", ".join(_REQUIRED))
    for name in _REQUIRED[kind]:
        if not isinstance(data.get(name), str) or not data[name]:
            return "%s of kind %s has no %s" % (path, kind, name)
    return None
