"""A user's own cloud for the link tests: a standard OpenID Connect server and a readings API on
another host, neither of them tempnode's.

- The authorization server is panva's `oidc-provider` (npm, pinned in `tests/oidc_server/`,
  installed by `make venv`), run by `tests/oidc_server/server.mjs` on `https://localhost:PORT`
  with its own paths (`/token`, `/device/auth`, `/reg`, `/token/introspection`), its own error
  bodies, `exp` in whole seconds, refresh tokens only with `offline_access`, and rotation with
  no grace window (a reused refresh token revokes the grant).
- The readings API (`ReadingsApi`, here) serves `https://127.0.0.1:PORT/api/readings`: it checks
  each bearer token by RFC 7662 introspection at the server, as the server's documentation
  says a resource server does, and answers the way many APIs do: `201 {"stored": N}` (a count,
  not a list) or a bare `204`, so a device must be configured with `ack: 2xx`.
- `Person` plays the person at the browser: it opens the verification page, types the code,
  signs in and consents on the server's own pages (its `devInteractions` views).

    cloud = oidc_cloud(access_ttl_s=2)            # the pytest fixture: a factory, one per test
    info = cloud.admin.create_device("logger-1")  # a client registered through /reg (RFC 7591)
    LinkDevice.create(tmp_path, cloud, "oauth2")  # tests/link_support.py uses it as a dev cloud

Both servers share the simulated board's virtual clock (`TEMPNODE_VCLOCK`), as the dev cloud
does. The admin object has the dev cloud admin client's shape where the tests need it
(`create_device`, `provision`, `approve`, `deny`, `readings`, `events`).
"""

import json
import os
import secrets
import ssl
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from host_tools.cloud.clock import ServerClock
from host_tools.cloud.tls import ensure_certificates

SERVER_DIR = Path(__file__).resolve().parent / "oidc_server"
NODE = SERVER_DIR / "node_modules" / ".bin" / "node"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_GRANTS = (DEVICE_CODE_GRANT, "refresh_token")
READINGS_PATH = "/api/readings"
START_TIMEOUT_S = 30
HTTP_TIMEOUT_S = 15


def issued(*values):
    import link_secret_scan  # imported late: pytest loads it as a plugin first

    link_secret_scan.issued(*values)


def _session(ca_pem):
    session = requests.Session()
    session.verify = str(ca_pem)
    session.trust_env = False  # loopback: no proxy, no CA bundle from the environment
    return session


class AuthorizationServer:
    """`node server.mjs` with its settings; its event lines are collected as they come."""

    def __init__(self, work, certs, vclock, resource, **settings):
        self.registration_token = secrets.token_urlsafe(24)
        self.introspector = {
            "client_id": "readings-api",
            "client_secret": secrets.token_urlsafe(24),
        }
        issued(self.registration_token, self.introspector["client_secret"])
        settings = {
            "cert": str(certs.server_cert),
            "key": str(certs.server_key),
            "resource": resource,
            "registration_token": self.registration_token,
            "introspector": self.introspector,
            **settings,
        }
        path = work / "oidc-settings.json"
        path.write_text(json.dumps(settings))
        if not NODE.exists():
            raise RuntimeError(f"{NODE} is missing: run `make venv` (npm ci in {SERVER_DIR})")
        self.log = open(work / "oidc-server.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(NODE), str(SERVER_DIR / "server.mjs"), str(path)],
            cwd=SERVER_DIR,
            env=dict(os.environ, TEMPNODE_VCLOCK=str(vclock)),
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.events = []
        ready = threading.Event()
        self.issuer = None
        self._reader = threading.Thread(target=self._read, args=(ready,), daemon=True)
        self._reader.start()
        if not ready.wait(START_TIMEOUT_S) or self.issuer is None:
            self.stop()
            raise RuntimeError(f"oidc-provider did not start: see {work / 'oidc-server.log'}")

    def _read(self, ready):
        for line in self.proc.stdout:
            if not line.startswith("{"):  # the library's own notices (console.info)
                self.log.write(line)
                continue
            record = json.loads(line)
            if "ready" in record:
                self.issuer = record["ready"]["issuer"]
                ready.set()
            else:
                self.events.append(record)
        ready.set()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@dataclass
class Stored:
    """What the readings API holds: each (device, seq) once, and every request it answered."""

    readings: dict = field(default_factory=dict)  # device id -> {seq: reading}
    posts: int = 0
    copies: int = 0  # readings sent again after they were stored
    rejected: list = field(default_factory=list)  # (status, reason) of every refused request
    lock: threading.Lock = field(default_factory=threading.Lock)


class ReadingsApi:
    """The resource server: `POST /api/readings` with a bearer token, checked by introspection."""

    def __init__(self, certs, clock, answer="created"):
        self.clock = clock
        self.answer = answer  # "created": 201 {"stored": N}; "no_content": 204
        self.stored = Stored()
        self.clients = {}  # client_id -> device id
        self.introspection_url = None
        self.introspector = None
        self._session = _session(certs.ca_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs.server_cert, certs.server_key)
        handler = type("Handler", (_ReadingsHandler,), {"api": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}{READINGS_PATH}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def introspect(self, token):
        reply = self._session.post(
            self.introspection_url,
            data={"token": token},
            auth=(self.introspector["client_id"], self.introspector["client_secret"]),
            timeout=HTTP_TIMEOUT_S,
        )
        reply.raise_for_status()
        return reply.json()

    def store(self, device, batch):
        now = self.clock.now()
        sent = batch.get("sent_mono_ms")
        with self.stored.lock:
            held = self.stored.readings.setdefault(device, {})
            for reading in batch["readings"]:
                seq = reading["seq"]
                if seq in held:
                    self.stored.copies += 1
                    continue
                t = reading.get("t")
                if t is None and "mono_ms" in reading and "boot" not in reading and sent:
                    t = int(now - (sent - reading["mono_ms"]) / 1000)
                held[seq] = dict(reading, t=t)
            return len(batch["readings"])

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._session.close()


class _ReadingsHandler(BaseHTTPRequestHandler):
    api: ReadingsApi
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # a reply's head and body leave at once

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass  # quiet: the test reads what the API stored, not its access log

    def date_time_string(self, timestamp=None):
        return self.api.clock.http_date(timestamp)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if urllib.parse.urlsplit(self.path).path != READINGS_PATH:
            return self._answer(404, {"error": "not_found"})
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self._refuse(401, None, "no bearer token", {"WWW-Authenticate": "Bearer"})
        facts = self.api.introspect(token)
        if not facts.get("active"):
            # RFC 6750 §3.1: the token is expired, revoked or unknown.
            challenge = 'Bearer error="invalid_token", error_description="inactive token"'
            return self._refuse(401, "invalid_token", "inactive", {"WWW-Authenticate": challenge})
        if "readings" not in facts.get("scope", "").split():
            challenge = {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="readings"'}
            return self._refuse(403, "insufficient_scope", "scope", challenge)
        try:
            batch = json.loads(body)
            device = batch["device"]
            assert isinstance(batch["readings"], list)
        except (ValueError, KeyError, TypeError, AssertionError):
            return self._refuse(400, "invalid_request", "body")
        if self.api.clients.get(facts.get("client_id")) != device:
            return self._refuse(403, "access_denied", "another device's batch")
        with self.api.stored.lock:
            self.api.stored.posts += 1
        count = self.api.store(device, batch)
        if self.api.answer == "no_content":
            return self._answer(204, None)
        return self._answer(201, {"stored": count})

    def _refuse(self, status, error, reason, headers=None):
        with self.api.stored.lock:
            self.api.stored.rejected.append((status, reason))
        body = {"error": error} if error else {"error": "unauthorized"}
        return self._answer(status, body, headers)

    def _answer(self, status, body, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Forms(HTMLParser):
    """The forms of a page: action, and the named inputs with their values."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "fields": {}, "text": []})
        elif tag == "input" and self.forms and attrs.get("name"):
            form = self.forms[-1]
            form["fields"][attrs["name"]] = attrs.get("value") or ""
            if attrs.get("type") in ("text", "password"):
                form["text"].append(attrs["name"])


class Person:
    """A person at a browser, on the authorization server's own pages: the code they read on
    the console, a sign-in, a consent (or an abort)."""

    def __init__(self, ca_pem, login="grower"):
        self.ca_pem = ca_pem
        self.login = login

    def approve(self, verification_uri, user_code, deny=False):
        """Walk the pages from the verification URI to the end; the last page's text."""
        answers = {"user_code": user_code, "login": self.login, "password": "any password"}
        with _session(self.ca_pem) as browser:
            page = browser.get(verification_uri, timeout=HTTP_TIMEOUT_S)
            for _ in range(10):
                parser = _Forms()
                parser.feed(page.text)
                if not parser.forms:
                    return page.text
                form = parser.forms[0]
                data = dict(form["fields"])
                for name in form["text"]:
                    data[name] = answers[name]
                if deny and "confirm" in data:
                    data["abort"] = "yes"  # the confirmation page's "[ Abort ]" button
                action = urllib.parse.urljoin(page.url, form["action"])
                page = browser.post(action, data=data, timeout=HTTP_TIMEOUT_S)
        raise AssertionError(f"the approval pages never ended: {page.url}")


class OidcAdmin:
    """What the tests ask of this cloud, in the dev cloud admin client's terms."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.devices = {}  # device id -> its registration (client id, secret, method)
        self.codes = {}  # user code -> verification URI, for approve()
        self._session = _session(cloud.ca_pem_path)

    def create_device(
        self,
        device_id,
        profile="oauth2",
        provision=True,
        access_ttl_s=None,
        auth_method="client_secret_basic",
        grant_types=DEVICE_GRANTS,
        scope="readings offline_access",
    ):
        """Register a client for the device (RFC 7591, with the initial access token) and,
        unless `provision=False`, get it a credential through the device flow."""
        assert profile == "oauth2", profile
        metadata = {
            "client_name": device_id,
            "grant_types": list(grant_types),
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": auth_method,
        }
        if access_ttl_s is not None:
            metadata["tempnode_access_ttl_s"] = access_ttl_s
        reply = self._session.post(
            self.cloud.issuer + "/reg",
            json=metadata,
            headers={"Authorization": f"Bearer {self.cloud.server.registration_token}"},
            timeout=HTTP_TIMEOUT_S,
        )
        assert reply.status_code == 201, reply.text
        client = reply.json()
        issued(client.get("client_secret"), client.get("registration_access_token"))
        info = {
            "device_id": device_id,
            "profile": profile,
            "client_id": client["client_id"],
            "client_secret": client.get("client_secret"),
            "auth_method": auth_method,
            "cloud_config": self.cloud.config_for(auth_method),
        }
        self.devices[device_id] = info
        self.cloud.api.clients[client["client_id"]] = device_id
        if provision:
            info["credential"] = self.provision(device_id, scope)
        return info

    def _client_auth(self, info, fields):
        """requests' (auth, form) for the client's registered token endpoint auth method."""
        if info["auth_method"] == "client_secret_basic":
            return (info["client_id"], info["client_secret"]), fields
        fields = dict(fields, client_id=info["client_id"])
        if info["auth_method"] == "client_secret_post":
            fields["client_secret"] = info["client_secret"]
        return None, fields

    def token_request(self, device_id, fields):
        """(status, JSON reply) of a token endpoint request with the device's client."""
        auth, data = self._client_auth(self.devices[device_id], fields)
        reply = self._session.post(
            self.cloud.token_url, data=data, auth=auth, timeout=HTTP_TIMEOUT_S
        )
        body = reply.json()
        issued(body.get("access_token"), body.get("refresh_token"))
        return reply.status_code, body

    def provision(self, device_id, scope="readings offline_access"):
        """A new grant for the device: the device flow, a person approving it at once."""
        auth, data = self._client_auth(self.devices[device_id], {"scope": scope})
        start = self._session.post(
            self.cloud.device_authorization_url, data=data, auth=auth, timeout=HTTP_TIMEOUT_S
        ).json()
        issued(start["device_code"])
        Person(self.cloud.ca_pem_path).approve(start["verification_uri"], start["user_code"])
        status, reply = self.token_request(
            device_id, {"grant_type": DEVICE_CODE_GRANT, "device_code": start["device_code"]}
        )
        assert status == 200, reply
        return reply

    def _verification_uri(self):
        return self.cloud.issuer + "/device"

    def approve(self, user_code):
        """A person approves the code a device printed."""
        text = Person(self.cloud.ca_pem_path).approve(self._verification_uri(), user_code)
        assert "Sign-in Success" in text, text

    def deny(self, user_code):
        Person(self.cloud.ca_pem_path).approve(self._verification_uri(), user_code, deny=True)

    def readings(self, device_id):
        """The readings stored for the device, in seq order (the dev cloud's row shape)."""
        with self.cloud.api.stored.lock:
            held = dict(self.cloud.api.stored.readings.get(device_id, {}))
        return [dict(held[seq], seq=seq) for seq in sorted(held)]

    def events(self, device_id=None, kind=None, after=None):
        """Token events as the dev cloud names them: `refreshed` (a refresh grant that
        succeeded), `issued` (any other grant), `rejected` at the token endpoint (a refused
        grant; pending device-flow polls are not refusals) and at the API (`where: api`)."""
        client = self.devices[device_id]["client_id"] if device_id else None
        out = []
        for record in list(self.cloud.server.events):
            if record.get("event") != "grant" or (client and record["client_id"] != client):
                continue
            if record.get("ok"):
                refresh = record["grant_type"] == "refresh_token"
                out.append({"kind": "refreshed" if refresh else "issued", "where": "token"})
            elif record["error"] not in ("authorization_pending", "slow_down"):
                out.append({"kind": "rejected", "where": "token", "reason": record["error"]})
        with self.cloud.api.stored.lock:
            refused = list(self.cloud.api.stored.rejected)
        out += [{"kind": "rejected", "where": "api", "reason": r} for _, r in refused]
        return [e for e in out if kind is None or e["kind"] == kind]


@dataclass
class OidcCloud:
    """One user's cloud: the authorization server and the readings API, one virtual clock."""

    server: AuthorizationServer
    api: ReadingsApi
    certs: object  # host_tools.cloud.tls.CertPaths: the CA both servers' certificate chains to
    vclock_path: Path
    admin: OidcAdmin = None

    def __post_init__(self):
        self.admin = OidcAdmin(self)
        self.api.introspection_url = self.issuer + "/token/introspection"
        self.api.introspector = self.server.introspector

    @property
    def issuer(self):
        return self.server.issuer

    # LinkDevice and the host tools take these as they take the dev cloud's.
    @property
    def base_url(self):
        return self.issuer

    @property
    def ca_der_path(self):
        return self.certs.ca_der

    @property
    def ca_pem_path(self):
        return self.certs.ca_pem

    @property
    def token_url(self):
        return self.issuer + "/token"

    @property
    def device_authorization_url(self):
        return self.issuer + "/device/auth"

    def config_for(self, auth_method):
        """config.json `cloud` options for a device of this cloud (beyond the profile and
        base URL): the server's own endpoints, the API on its other host, its ack."""
        return {
            "token_url": self.token_url,
            "device_authorization_url": self.device_authorization_url,
            "readings_url": self.api.url,
            "scope": "readings offline_access",
            "client_auth": auth_method,  # the config names are RFC 7591's
            "ack": "2xx",
        }

    def stop(self):
        self.api.stop()
        self.server.stop()


@pytest.fixture(scope="session")
def oidc_certs(tmp_path_factory):
    """A CA and one server certificate for `localhost` and `127.0.0.1` (the dev cloud's own
    certificate code makes them; each server of the test cloud serves it)."""
    return ensure_certificates(tmp_path_factory.mktemp("oidc-certs"))


@pytest.fixture
def oidc_cloud(oidc_certs, tmp_path):
    """start(access_ttl_s=3600, refresh_ttl_s=14 days, rotate="always", answer="created")
    -> OidcCloud; every cloud started is stopped after the test."""
    started = []

    def start(access_ttl_s=3600, refresh_ttl_s=14 * 86400, rotate="always", answer="created"):
        work = tmp_path / f"oidc-{len(started)}"
        work.mkdir()
        vclock = work / "vclock"
        clock = ServerClock(vclock)
        api = ReadingsApi(oidc_certs, clock, answer)
        try:
            server = AuthorizationServer(
                work,
                oidc_certs,
                vclock,
                api.url,
                access_ttl_s=access_ttl_s,
                refresh_ttl_s=refresh_ttl_s,
                rotate=rotate,
            )
        except Exception:
            api.stop()
            raise
        cloud = OidcCloud(server, api, oidc_certs, vclock)
        started.append(cloud)
        return cloud

    yield start
    for cloud in started:
        cloud.stop()
