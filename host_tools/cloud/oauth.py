"""The OAuth2 authorization server: authlib's grants and endpoints on the dev cloud's storage.

authlib does the protocol (RFC 6749 grants and §5.2 errors, RFC 6750 bearer tokens, RFC 7009
revocation, RFC 7662 introspection, RFC 7636 challenges, RFC 8628 device flow); this module
supplies what authlib leaves to a server: storage, lifetimes per device, and refresh-token
rotation with a grace window and reuse detection (RFC 9700 §4.14.2):

- rotation `on`: a refresh returns a new refresh token and marks the old one rotated. The old
  one presented again within `grace_s` returns the *same* successor pair (the lost-reply case:
  the server rotated, the device never heard). Outside the window it revokes the whole family.
  The successor reply is kept sealed with a key derived from the old refresh token, so only
  its holder can open it and tokens stay hashed at rest.
- rotation `keep_old` (Speckle): a new refresh token, the old one stays valid.
- rotation `off`: no new refresh token (RFC 6749 §5.1: the client keeps the old one).
"""

import json
import os
import secrets
import threading

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    ResourceOwnerPasswordCredentialsGrant,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint, DeviceCodeGrant
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .dialects import DEVICE_CODE, SCOPE
from .records import (
    AuthCode,
    DeviceCode,
    find_client,
    find_device,
    find_token,
    lifetimes,
)
from .storage import check_password, digest, new_secret

_SECRET_METHODS = ["client_secret_basic", "client_secret_post"]
AUTH_CODE_TTL_S = 600


def new_token(**_):
    return new_secret()


def _seal_key(refresh_token):
    info = b"tempnode dev cloud: successor of a rotated refresh token"
    return HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(refresh_token.encode())


def seal(refresh_token, reply):
    nonce = os.urandom(12)
    data = json.dumps(reply).encode()
    return nonce + AESGCM(_seal_key(refresh_token)).encrypt(nonce, data, None)


def unseal(refresh_token, blob):
    return json.loads(AESGCM(_seal_key(refresh_token)).decrypt(blob[:12], blob[12:], None))


def reply_expires_in(ttl_s):
    """`expires_in` for a lifetime in seconds: whole seconds, at least 1; 0 means never."""
    return 0 if not ttl_s else max(1, int(ttl_s))


class CloudRequest(OAuth2Request):
    """An OAuth2 request whose parameters the dialect translation already extracted."""

    def __init__(self, method, uri, headers, data, route=None):
        super().__init__(method, uri, headers=headers)
        self.payload = BasicOAuth2Payload(data)
        self.route = route or {}
        self.requested_ttl_ms = None  # Usergrid `ttl`
        self.rejection = {}  # why a token request failed, beyond its OAuth2 error code
        self.device = None
        self.access_ttl_s = None
        self.issued = None

    @property
    def form(self):
        return self.payload.data

    @property
    def args(self):
        return self.payload.data


class _Issuing:
    """Every grant: the device's lifetimes decide `expires_in` and the refresh token."""

    TOKEN_ENDPOINT_AUTH_METHODS = _SECRET_METHODS

    def authenticate_token_endpoint_client(self):
        # Some grants (password) only set request.client after checking the user; the user
        # check needs to know the client.
        client = super().authenticate_token_endpoint_client()
        self.request.client = client
        return client

    def generate_token(
        self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True
    ):
        request = self.request
        device = user or self.server.device_of(request.client)
        self.server.check_place(device, request.route)
        policy = lifetimes(self.server.store, device)
        request.device = device
        request.access_ttl_s = self.server.access_ttl(request, policy)
        if self.GRANT_TYPE == "refresh_token":
            include_refresh_token = policy["rotation"] != "off"
        # Only a client that may use the refresh grant gets a refresh token (Spark 2014 and
        # Usergrid have none: their renewal is a new token request).
        include_refresh_token = include_refresh_token and request.client.check_grant_type(
            "refresh_token"
        )
        return super().generate_token(
            user=user,
            scope=scope,
            grant_type=grant_type,
            expires_in=reply_expires_in(request.access_ttl_s),
            include_refresh_token=include_refresh_token,
        )


class RefreshGrant(_Issuing, RefreshTokenGrant):
    def authenticate_refresh_token(self, refresh_token):
        return self.server.check_refresh_token(refresh_token, self.request)

    def authenticate_user(self, refresh_token):
        return find_device(self.server.store, refresh_token.device_id)

    def revoke_old_credential(self, refresh_token):
        self.server.mark_rotated(refresh_token, self.request)

    def create_token_response(self):
        credential = self.request.refresh_token
        if credential.replay:
            return 200, self.server.replay_successor(credential), self.TOKEN_RESPONSE_HEADER
        return super().create_token_response()


class ClientGrant(_Issuing, ClientCredentialsGrant):
    pass


class PasswordGrant(_Issuing, ResourceOwnerPasswordCredentialsGrant):
    def authenticate_user(self, username, password):
        device = self.server.login(username, password, self.request.client)
        if device is None:
            raise InvalidGrantError("The username or password is not right.")
        return device


class DeviceGrant(_Issuing, DeviceCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*_SECRET_METHODS, "none"]

    def query_device_credential(self, device_code):
        row = self.server.store.one(
            "SELECT * FROM device_codes WHERE hash = ? AND used = 0", digest(device_code)
        )
        if row is None:
            raise InvalidGrantError("The device code is unknown or was used already.")
        return DeviceCode(row, self.server.clock.now())

    def query_user_grant(self, user_code):
        # `user_code` is what DeviceCode.get_user_code() gave authlib: the stored digest.
        row = self.server.store.one("SELECT * FROM device_codes WHERE user_code = ?", user_code)
        if row["decision"] is None:
            return None
        return self.server.device_of(self.request.client), row["decision"] == "approved"

    def should_slow_down(self, credential):
        """RFC 8628 §3.5: polling faster than `interval` earns slow_down and 5 s more for good."""
        now = self.server.clock.now()
        last, interval = credential.row["last_poll_at"], credential.row["interval_s"]
        too_fast = last is not None and now - last < interval
        self.server.store.run(
            "UPDATE device_codes SET last_poll_at = ?, interval_s = ? WHERE hash = ?",
            now,
            interval + 5 if too_fast else interval,
            credential.row["hash"],
        )
        return too_fast


class CodeGrant(_Issuing, AuthorizationCodeGrant):
    def save_authorization_code(self, code, request):
        data = request.payload.data
        self.server.store.run(
            "INSERT INTO auth_codes (hash, client_id, device_id, redirect_uri, scope, challenge,"
            " challenge_method, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            digest(code),
            request.client.client_id,
            request.user.id,
            request.payload.redirect_uri,
            request.scope,
            data.get("code_challenge"),
            data.get("code_challenge_method"),
            self.server.clock.now() + AUTH_CODE_TTL_S,
        )

    def query_authorization_code(self, code, client):
        row = self.server.store.one(
            "SELECT * FROM auth_codes WHERE hash = ? AND client_id = ? AND used = 0"
            " AND expires_at > ?",
            digest(code),
            client.client_id,
            self.server.clock.now(),
        )
        return AuthCode(row) if row else None

    def delete_authorization_code(self, authorization_code):
        self.server.store.run(
            "UPDATE auth_codes SET used = 1 WHERE hash = ?", authorization_code.row["hash"]
        )

    def authenticate_user(self, authorization_code):
        return find_device(self.server.store, authorization_code.row["device_id"])


class DeviceAuthorization(DeviceAuthorizationEndpoint):
    """RFC 8628 §3.1-3.2. Codes live 30 minutes; poll every 5 s."""

    def authenticate_client(self, request):
        client = super().authenticate_client(request)
        if not client.check_grant_type(DEVICE_CODE):
            raise UnauthorizedClientError("This client may not use the device flow.")
        return client

    def get_verification_uri(self):
        return self.server.base_url + "/device"

    def save_device_credential(self, client_id, scope, data):
        server = self.server
        server.store.run(
            "INSERT INTO device_codes (hash, user_code, client_id, scope, expires_at, interval_s)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            digest(data["device_code"]),
            digest(data["user_code"]),
            client_id,
            scope or SCOPE,
            server.clock.now() + data["expires_in"],
            data["interval"],
        )
        client = find_client(server.store, client_id)
        server.event(client.device_id, "device_code", client=client_id)


class _TokenLookup:
    CLIENT_AUTH_METHODS = _SECRET_METHODS

    def query_token(self, token_string, token_type_hint):
        now = self.server.clock.now()
        kinds = (
            ("refresh", "access") if token_type_hint == "refresh_token" else ("access", "refresh")
        )
        for kind in kinds:
            found = find_token(self.server.store, token_string, now, kind)
            if found:
                return found
        return None


class Revocation(_TokenLookup, RevocationEndpoint):
    def revoke_token(self, token, request):
        # RFC 7009 §2.1: revoking a refresh token also ends the access tokens of its grant.
        self.server.revoke(token, by="client")


class Introspection(_TokenLookup, IntrospectionEndpoint):
    def check_permission(self, token, client, request):
        return token.check_client(client)

    def introspect_token(self, token):
        row = token.row
        return {
            "active": True,
            "client_id": row["client_id"],
            "token_type": "Bearer" if token.kind == "access" else "refresh_token",
            "scope": row["scope"],
            "sub": row["device_id"],
            "username": row["device_id"],
            "iat": int(row["issued_at"]),
            **({"exp": int(row["expires_at"])} if row["expires_at"] is not None else {}),
        }


class OAuthServer(AuthorizationServer):
    def __init__(self, store, clock, base_url):
        super().__init__(scopes_supported=[SCOPE])
        self.store = store
        self.clock = clock
        self.base_url = base_url
        # One token request at a time: two refreshes racing with the same refresh token must
        # not both rotate it.
        self.lock = threading.Lock()
        self.register_token_generator("default", BearerTokenGenerator(new_token, new_token))
        for grant in (RefreshGrant, ClientGrant, PasswordGrant, DeviceGrant):
            self.register_grant(grant)
        self.register_grant(CodeGrant, [CodeChallenge(required=True)])
        for endpoint in (DeviceAuthorization, Revocation, Introspection):
            self.register_endpoint(endpoint)

    # --- what authlib asks of a server --------------------------------------------------------

    def query_client(self, client_id):
        return find_client(self.store, client_id)

    def create_oauth2_request(self, request):
        return request

    def handle_response(self, status, body, headers):
        return status, body, headers

    def send_signal(self, name, *args, **kwargs):
        pass

    def save_token(self, token, request):
        grant_type = request.payload.grant_type
        device = request.device
        credential = request.refresh_token
        with self.store.tx() as db:
            if grant_type == "password" and device.dialect.password_login_revokes_previous:
                self._revoke_where(db, "device_id = ?", device.id, reason="new_password_login")
            if grant_type == DEVICE_CODE:
                db.execute(
                    "UPDATE device_codes SET used = 1 WHERE hash = ?",
                    (request.credential.row["hash"],),
                )
            access_expires_at = self.keep_tokens(
                db,
                token,
                device,
                request.client.client_id,
                grant_type,
                request.access_ttl_s,
                credential,
            )
        request.issued = {**token, "access_expires_at": access_expires_at}

    def keep_tokens(self, db, token, device, client_id, grant_type, access_ttl_s, parent=None):
        """Store a token reply's tokens (as digests) and log it; returns the access expiry.
        `parent`: the refresh token this reply renews (its family carries on)."""
        now = self.clock.now()
        family = parent.family if parent else secrets.token_hex(8)
        access_expires_at = now + access_ttl_s if access_ttl_s else None
        rows = [("access", token["access_token"], access_expires_at)]
        if "refresh_token" in token:
            ttl = lifetimes(self.store, device)["refresh_ttl_s"]
            rows.append(("refresh", token["refresh_token"], now + ttl if ttl else None))
        ids = {}
        for kind, value, expires_at in rows:
            ids[kind + "_id"] = db.execute(
                "INSERT INTO tokens (kind, hash, device_id, client_id, family, grant_type, scope,"
                " issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    kind,
                    digest(value),
                    device.id,
                    client_id,
                    family,
                    grant_type,
                    token.get("scope", SCOPE),
                    now,
                    expires_at,
                ),
            ).lastrowid
        self.event(
            device.id,
            "refreshed" if parent else "issued",
            grant=grant_type,
            client=client_id,
            family=family,
            expires_in=token.get("expires_in"),
            **ids,
            **({"from_refresh_id": parent.id} if parent else {}),
        )
        return access_expires_at

    def provision(self, device):
        """Issue a token pair straight to a new device (admin): its stored refresh credential."""
        client = self.client_of(device)
        ttl = lifetimes(self.store, device)["access_ttl_s"]
        token = self.generate_token(
            "provisioned",
            client,
            scope=SCOPE,
            expires_in=reply_expires_in(ttl),
            include_refresh_token=client.check_grant_type("refresh_token"),
        )
        with self.store.tx() as db:
            self.keep_tokens(db, token, device, client.client_id, "provisioned", ttl)
        return token

    # --- refresh token rotation ----------------------------------------------------------------

    def check_refresh_token(self, refresh_token, request):
        """The refresh token's record if it may be used; else None, with the reason noted on
        the request for the event log."""
        now = self.clock.now()
        record = find_token(self.store, refresh_token, now, "refresh")
        reason = self._refresh_problem(record, request.client, now)
        if reason is None:
            return record
        request.rejection = {"reason": reason, "token_id": record.id if record else None}
        if record:
            request.rejection["device"] = record.device_id
        return None

    def _refresh_problem(self, record, client, now):
        if record is None:
            return "unknown"
        if not record.check_client(client):
            return "other_client"
        if record.is_revoked():
            return "revoked"
        if record.is_expired():
            return "expired"
        rotated_at = record.row["rotated_at"]
        if rotated_at is None:
            return None
        grace = lifetimes(self.store, find_device(self.store, record.device_id))["grace_s"]
        if grace and now - rotated_at <= grace and record.row["successor"]:
            record.replay = True
            return None
        # RFC 9700 §4.14.2: a rotated refresh token used again means it leaked (or the client
        # lost track); end the whole family so whoever holds the newer tokens is cut off too.
        with self.store.tx() as db:
            self._revoke_where(db, "family = ?", record.family, reason="reuse_detected")
        return "reused"

    def mark_rotated(self, credential, request):
        device = request.device
        if lifetimes(self.store, device)["rotation"] != "on" or not request.issued:
            return
        self.store.run(
            "UPDATE tokens SET rotated_at = ?, successor = ? WHERE id = ?",
            self.clock.now(),
            seal(credential.presented, request.issued),
            credential.id,
        )

    def replay_successor(self, credential):
        reply = unseal(credential.presented, credential.row["successor"])
        expires_at = reply.pop("access_expires_at")
        if expires_at is not None:
            reply["expires_in"] = max(1, int(expires_at - self.clock.now()))
        self.event(credential.device_id, "replayed", grace_of_refresh_id=credential.id)
        return reply

    # --- revocation ----------------------------------------------------------------------------

    def revoke(self, token, by):
        with self.store.tx() as db:
            if token.kind == "refresh":
                self._revoke_where(db, "family = ?", token.family, reason=f"revoked_by_{by}")
            else:
                self._revoke_where(db, "id = ?", token.id, reason=f"revoked_by_{by}")

    def _revoke_where(self, db, where, arg, reason):
        now = self.clock.now()
        rows = db.execute(
            f"SELECT id, device_id FROM tokens WHERE {where} AND revoked_at IS NULL", (arg,)
        ).fetchall()
        if not rows:
            return 0
        db.execute(
            f"UPDATE tokens SET revoked_at = ? WHERE {where} AND revoked_at IS NULL", (now, arg)
        )
        self.event(
            rows[0]["device_id"], "revoked", reason=reason, token_ids=[r["id"] for r in rows]
        )
        return len(rows)

    def revoke_device(self, device_id):
        with self.store.tx() as db:
            return self._revoke_where(db, "device_id = ?", device_id, reason="revoked_by_admin")

    def expire_now(self, device_id, which):
        kinds = {"access": ("access",), "refresh": ("refresh",), "all": ("access", "refresh")}
        if which not in kinds:
            raise ValueError("which must be access, refresh or all")
        now = self.clock.now()
        count = 0
        for kind in kinds[which]:
            count += self.store.run(
                "UPDATE tokens SET expires_at = ? WHERE device_id = ? AND kind = ?"
                " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
                now,
                device_id,
                kind,
                now,
            )
        self.event(device_id, "expired", which=which, count=count, by="admin")
        return count

    # --- devices and lifetimes -----------------------------------------------------------------

    def device_of(self, client):
        device = find_device(self.store, client.device_id) if client.device_id else None
        if device is None:
            raise InvalidClientError(description="This client belongs to no device.")
        return device

    def client_of(self, device):
        row = self.store.one(
            "SELECT client_id FROM clients WHERE device_id = ? OR (device_id IS NULL AND"
            " profile = ?) ORDER BY device_id IS NULL",
            device.id,
            device.profile,
        )
        return find_client(self.store, row["client_id"])

    def login_device(self, username, password):
        """The device whose owner's name and password these are, else None."""
        row = self.store.one("SELECT * FROM devices WHERE username = ?", username)
        if row is None or not check_password(password, row["password_hash"]):
            return None
        return find_device(self.store, row["id"])

    def login(self, username, password, client):
        """As `login_device`, for a client that may log this device in."""
        device = self.login_device(username, password)
        if device is None:
            return None
        mine = client.device_id == device.id
        shared = client.device_id is None and client.profile == device.profile
        return device if mine or shared else None

    @staticmethod
    def place_matches(device, route):
        """Usergrid: /{org}/{app}/... must name the device's own org and app."""
        return all(device.row[k] == route[k] for k in ("org", "app") if k in route)

    def check_place(self, device, route):
        if not self.place_matches(device, route):
            raise InvalidGrantError("This device does not belong to this organization/app.")

    @staticmethod
    def access_ttl(request, policy):
        """The access-token lifetime for this request; Usergrid's `ttl` is in ms, 0 = never."""
        ttl_ms = request.requested_ttl_ms
        if ttl_ms is None:
            return policy["access_ttl_s"]
        maximum_ms = int(policy["access_ttl_s"] * 1000)
        if ttl_ms and maximum_ms and ttl_ms > maximum_ms:
            raise InvalidRequestError(
                f"ttl {ttl_ms} ms is longer than this app's maximum of {maximum_ms} ms."
            )
        return ttl_ms / 1000

    def event(self, device_id, kind, **detail):
        self.store.log_event(self.clock.now(), device_id, kind, **detail)


def normalize_user_code(user_code):
    """`bcdf ghjk`, `BCDFGHJK` and `BCDF-GHJK` are the same user code (RFC 8628 §6.1)."""
    letters = "".join(ch for ch in str(user_code).upper() if ch.isalnum())
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else letters


def decide_user_code(oauth, user_code, approved, device_id=None):
    """Approve or deny a pending device-flow code; `device_id`, when given, must own it."""
    store = oauth.store
    row = store.one(
        "SELECT * FROM device_codes WHERE user_code = ?", digest(normalize_user_code(user_code))
    )
    if row is None or row["used"]:
        raise ValueError("There is no pending device login with this code.")
    if row["expires_at"] <= oauth.clock.now():
        raise ValueError("This code has expired: start the login on the device again.")
    if row["decision"] is not None:
        raise ValueError(f"This code was {row['decision']} already.")
    client = find_client(store, row["client_id"])
    if device_id is not None and client.device_id != device_id:
        raise ValueError("This code belongs to another device.")
    decision = "approved" if approved else "denied"
    store.run("UPDATE device_codes SET decision = ? WHERE hash = ?", decision, row["hash"])
    oauth.event(client.device_id, "device_code_" + decision, client=client.client_id)
    return client.device_id
