"""Database rows as the objects authlib asks for (client, token, codes), plus device setup.

A device is the resource owner ("user" in authlib's terms): its password serves the host-side
password grant, and every token it holds belongs to it. Each device gets its own confidential
client, except in the Spark 2014 dialect where every device logged in through `spark:spark`.
"""

import re
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from authlib.oauth2.rfc8628 import DeviceCredentialMixin

from .dialects import DEVICE_CODE, DIALECTS, ROTATIONS, SCOPE
from .storage import check_digest, digest, hash_password, new_secret
from .web import is_number

DEVICE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
PATH_PART = re.compile(r"[A-Za-z0-9._-]{1,64}")
SHARED_CLIENTS = {"spark2014": ("spark", "spark")}  # the seed's public client id and secret
LIFETIME_KEYS = ("access_ttl_s", "refresh_ttl_s", "rotation", "grace_s")
USERGRID_DEFAULTS = {"org": "tempnode", "app": "sandbox"}


class Device:
    def __init__(self, row):
        self.row = row
        self.id = row["id"]
        self.profile = row["profile"]
        self.dialect = DIALECTS[self.profile]

    def get_user_id(self):
        return self.id


class Client(ClientMixin):
    def __init__(self, row):
        self.row = row
        self.client_id = row["client_id"]
        self.device_id = row["device_id"]
        self.profile = row["profile"]
        self.dialect = DIALECTS[self.profile]

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.row["redirect_uri"]

    def get_allowed_scope(self, scope):
        return SCOPE

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri == self.row["redirect_uri"]

    def check_client_secret(self, client_secret):
        return check_digest(client_secret, self.row["secret_hash"])

    def check_endpoint_auth_method(self, method, endpoint):
        if method == "none":
            # RFC 8628 §3.1/§3.4: a device may start and poll the device flow with just its
            # client_id. The other grants never offer "none" (TOKEN_ENDPOINT_AUTH_METHODS).
            return DEVICE_CODE in self.dialect.grant_types
        if endpoint == "token":
            return method in self.dialect.client_auth
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code" and "authorization_code" in self.dialect.grant_types

    def check_grant_type(self, grant_type):
        return grant_type in self.dialect.grant_types


class TokenRecord(TokenMixin):
    """An access or refresh token row; `now` is the dev cloud's clock at lookup."""

    def __init__(self, row, now, presented=None):
        self.row = row
        self.now = now
        self.presented = presented  # the token string itself, only while a request holds it
        self.id = row["id"]
        self.kind = row["kind"]
        self.device_id = row["device_id"]
        self.family = row["family"]
        self.replay = False  # a rotated refresh token presented inside its grace window

    def check_client(self, client):
        return self.row["client_id"] == client.get_client_id()

    def get_scope(self):
        return self.row["scope"]

    def get_expires_in(self):
        expires_at = self.row["expires_at"]
        return 0 if expires_at is None else max(0, int(expires_at - self.now))

    def is_expired(self):
        expires_at = self.row["expires_at"]
        return expires_at is not None and expires_at <= self.now

    def is_revoked(self):
        return self.row["revoked_at"] is not None

    def get_user(self):
        return self.device_id

    def get_client(self):
        return self.row["client_id"]


class DeviceCode(DeviceCredentialMixin):
    def __init__(self, row, now):
        self.row = row
        self.now = now

    def get_client_id(self):
        return self.row["client_id"]

    def get_scope(self):
        return self.row["scope"]

    def get_user_code(self):
        return self.row["user_code"]

    def is_expired(self):
        return self.row["expires_at"] <= self.now


@dataclass
class AuthCode(AuthorizationCodeMixin):
    row: object

    def get_redirect_uri(self):
        return self.row["redirect_uri"]

    def get_scope(self):
        return self.row["scope"]

    @property
    def code_challenge(self):
        return self.row["challenge"]

    @property
    def code_challenge_method(self):
        return self.row["challenge_method"]


def find_device(store, device_id):
    row = store.one("SELECT * FROM devices WHERE id = ?", device_id)
    return Device(row) if row else None


def find_client(store, client_id):
    row = store.one("SELECT * FROM clients WHERE client_id = ?", client_id)
    return Client(row) if row else None


def find_token(store, token, now, kind=None):
    """The token row for a presented token string (looked up by its digest)."""
    row = store.one(
        "SELECT * FROM tokens WHERE hash = ? AND (? IS NULL OR kind = ?)",
        digest(token),
        kind,
        kind,
    )
    return TokenRecord(row, now, presented=token) if row else None


def lifetimes(store, device):
    """The device's token policy: its own setting, else the global one, else its dialect's."""
    policy = {}
    for key in LIFETIME_KEYS:
        value = device.row[key]
        if value is None:
            value = store.setting("global." + key)
        policy[key] = getattr(device.dialect, key) if value is None else value
    return policy


def check_lifetimes(values):
    """Validate admin input for lifetimes; returns only the keys given. Raises ValueError."""
    checked = {}
    for key, value in values.items():
        if key not in LIFETIME_KEYS:
            raise ValueError(f"unknown setting {key!r}: use {', '.join(LIFETIME_KEYS)}")
        if value is None:
            checked[key] = None
        elif key == "rotation":
            if value not in ROTATIONS:
                raise ValueError(f"rotation must be one of {', '.join(ROTATIONS)}")
            checked[key] = value
        elif not is_number(value) or value < 0:
            raise ValueError(f"{key} must be a number of seconds >= 0 (0: never expires)")
        else:
            checked[key] = value
    return checked


def create_device(store, now, base_url, spec):
    """Register a device and its client from an admin request; returns its secrets once."""
    device_id = spec.get("device_id")
    profile = spec.get("profile", "oauth2")
    if not isinstance(device_id, str) or not DEVICE_ID.fullmatch(device_id):
        raise ValueError("device_id must be 1-64 letters, digits, '.', '_' or '-'")
    if profile not in DIALECTS:
        raise ValueError(f"profile must be one of {', '.join(DIALECTS)}")
    settings = check_lifetimes({k: spec.get(k) for k in LIFETIME_KEYS})
    place = (
        {k: spec.get(k, v) for k, v in USERGRID_DEFAULTS.items()} if profile == "usergrid" else {}
    )
    if any(not PATH_PART.fullmatch(str(v)) for v in place.values()):
        raise ValueError("org and app must be 1-64 letters, digits, '.', '_' or '-'")
    password = spec.get("password") or new_secret(18)
    client_id, client_secret = SHARED_CLIENTS.get(profile, (device_id, new_secret()))
    with store.tx() as db:
        if db.execute("SELECT 1 FROM devices WHERE id = ?", (device_id,)).fetchone():
            raise ValueError(f"a device named {device_id!r} exists already")
        db.execute(
            "INSERT INTO devices (id, profile, username, password_hash, org, app, access_ttl_s,"
            " refresh_ttl_s, rotation, grace_s, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                device_id,
                profile,
                device_id,
                hash_password(password),
                place.get("org"),
                place.get("app"),
                *(settings[k] for k in LIFETIME_KEYS),
                now,
            ),
        )
        db.execute(
            "INSERT OR IGNORE INTO clients (client_id, secret_hash, profile, device_id,"
            " redirect_uri) VALUES (?, ?, ?, ?, ?)",
            (
                client_id,
                digest(client_secret),
                profile,
                None if profile in SHARED_CLIENTS else device_id,
                spec.get("redirect_uri") or base_url + "/authn/done",
            ),
        )
    return {
        "device_id": device_id,
        "profile": profile,
        "client_id": client_id,
        "client_secret": client_secret,
        "username": device_id,
        "password": password,
        **place,
    }
