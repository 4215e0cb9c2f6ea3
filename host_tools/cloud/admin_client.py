"""A Python client for the dev cloud's admin API (used by tests, `tempnode cloud`, the sim).

admin = AdminClient.from_data_dir("~/.local/share/tempnode/cloud")
dev = admin.create_device("logger-01", profile="oauth2", access_ttl_s=60, grace_s=30)
dev["credential"]["refresh_token"]      # the provisioned refresh credential
admin.add_fault("token", "drop_reply", count=1)
"""

from pathlib import Path

import requests

from ..errors import UserError
from . import running
from .app import ADMIN_KEY_FILE


class AdminError(Exception):
    """The admin API refused a request; `status` and `body` say why."""

    def __init__(self, status, body):
        description = body.get("error_description") if isinstance(body, dict) else body
        super().__init__(f"{status}: {description}")
        self.status = status
        self.body = body


class AdminClient:
    def __init__(self, base_url, admin_key, ca_pem=None, timeout=15, info=None):
        self.base_url = base_url.rstrip("/")
        self.info = info or {"url": self.base_url, "ca_pem": ca_pem}  # server.json
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {admin_key}"
        self.session.verify = str(ca_pem) if ca_pem else True
        # Loopback only: no proxy, and no CA bundle from the environment replacing ours.
        self.session.trust_env = False
        self.timeout = timeout

    @classmethod
    def from_data_dir(cls, data_dir):
        """The admin client for the cloud serving from `data_dir` now."""
        data_dir = Path(data_dir).expanduser()
        info = running.running_info(data_dir)
        if info is None:
            what = "stopped" if running.last_info(data_dir) else "never started"
            raise UserError(
                f"no dev cloud is serving from {data_dir} ({what}): start it with "
                "`tempnode cloud start`"
            )
        key = (data_dir / ADMIN_KEY_FILE).read_text().strip()
        return cls(info["url"], key, info.get("ca_pem"), info=info)

    def _call(self, method, path, body=None, **params):
        try:
            reply = self.session.request(
                method,
                self.base_url + "/admin" + path,
                json=body,
                params={k: v for k, v in params.items() if v is not None},
                timeout=self.timeout,
            )
        except requests.ConnectionError:
            raise UserError(f"the dev cloud at {self.base_url} does not answer: is it running?")
        data = reply.json()
        if reply.status_code >= 400:
            raise AdminError(reply.status_code, data)
        return data

    # devices and credentials
    def create_device(self, device_id, profile="oauth2", **options):
        """Register a device; returns ids, client secret, password and (unless
        `provision=False`) `credential`: the token reply holding its refresh token.
        Options: access_ttl_s, refresh_ttl_s (0 = never), rotation (on|off|keep_old),
        grace_s, org, app (usergrid), password, redirect_uri (speckle)."""
        return self._call(
            "POST", "/devices", {"device_id": device_id, "profile": profile, **options}
        )

    def provision(self, device_id):
        """A fresh token pair for a device (as at creation)."""
        return self._call("POST", f"/devices/{device_id}/credential")

    def device(self, device_id):
        return self._call("GET", f"/devices/{device_id}")

    def devices(self):
        return self._call("GET", "/devices")

    def revoke(self, device_id):
        """Revoke every token the device holds; returns how many."""
        return self._call("POST", f"/devices/{device_id}/revoke")["revoked"]

    def expire(self, device_id, which="access"):
        """Make the device's tokens expire now: which = access | refresh | all."""
        return self._call("POST", f"/devices/{device_id}/expire", {"which": which})["expired"]

    def set_lifetimes(self, device_id=None, **values):
        """access_ttl_s, refresh_ttl_s, rotation, grace_s for one device, or globally when
        `device_id` is None; a value of None goes back to the default."""
        path = f"/devices/{device_id}/lifetimes" if device_id else "/lifetimes"
        return self._call("POST", path, values)

    # clock
    def clock(self):
        return self._call("GET", "/clock")

    def set_clock_offset(self, offset_s):
        return self._call("POST", "/clock", {"offset_s": offset_s})

    # faults
    def add_fault(self, endpoint, kind, **options):
        """endpoint: token | device_authorization | revoke | introspect | ingest | any;
        kind: status | rate_limit | latency | reset | drop_reply | truncate | malformed |
        huge_body; options: count, for_s, from, until, status, retry_after_s,
        retry_after_form (seconds|date), delay_ms, size_bytes. Returns the fault."""
        return self._call("POST", "/faults", {"endpoint": endpoint, "kind": kind, **options})

    def faults(self):
        return self._call("GET", "/faults")

    def clear_faults(self, fault_id=None):
        path = "/faults" if fault_id is None else f"/faults/{fault_id}"
        return self._call("DELETE", path)["cleared"]

    # device flow
    def approve(self, user_code):
        return self._call("POST", "/device_codes", {"user_code": user_code, "approve": True})

    def deny(self, user_code):
        return self._call("POST", "/device_codes", {"user_code": user_code, "approve": False})

    # what the cloud holds
    def readings(self, device_id):
        return self._call("GET", f"/devices/{device_id}/readings")

    def events(self, device_id=None, kind=None, after=None):
        return self._call("GET", "/events", device=device_id, kind=kind, after=after)

    # firmware releases (host_tools/cloud/releases.py)
    def publish_release(self, release):
        """Store a signed release (manifest, signature, files) and point its channel at it."""
        return self._call("POST", "/releases", release)

    def releases(self):
        """{"releases": [...], "devices": [...]}: what the cloud holds and what runs where."""
        return self._call("GET", "/releases")
