"""The dev cloud assembled: storage, clock, OAuth2 server, faults and routes; and `start()`,
which runs it in a background thread (tests, `tempnode cloud serve`): on loopback unless told
another address, holding its data folder's lock (`running.py`) while it serves."""

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from . import admin_api, dashboard, pages, releases, running, tls, token_api
from .clock import ServerClock
from .dialects import DIALECTS
from .faults import FaultBoard
from .ingest import MAX_BATCH_BYTES, ingest_endpoint, resource_protector
from .oauth import OAuthServer
from .server import CloudHTTPServer, serve_in_thread
from .storage import Store, new_secret
from .web import route

HOST = "127.0.0.1"
DB_FILE = "cloud.sqlite3"
ADMIN_KEY_FILE = "admin.key"
SERVER_INFO_FILE = running.SERVER_INFO_FILE


def build_routes():
    fixed = [
        route("GET", "/", "", pages.home),
        route("GET", "/.well-known/oauth-authorization-server", "", token_api.metadata),
        route(
            "POST",
            "/oauth/device_authorization",
            "device_authorization",
            token_api.device_authorization,
        ),
        route("POST", "/oauth/revoke", "revoke", token_api.revocation),
        route("POST", "/oauth/introspect", "introspect", token_api.introspection),
        route("GET", "/device", "", pages.device_page),
        route("POST", "/device", "", pages.device_decide),
        route("GET", "/authn/verify/{app_id}/{challenge}", "", pages.verify_page),
        route("POST", "/authn/verify/{app_id}/{challenge}", "", pages.verify_decide),
        route("GET", "/authn/done", "", pages.done),
        route("GET", "/dashboard", "", dashboard.page),
        *admin_api.ROUTES,
        *releases.ROUTES,
    ]
    # Each dialect's token and readings paths, the first dialect of a shared path owning it.
    # Paths without parameters go first: `/api/v1/readings` must not be read as a Usergrid
    # `/{org}/{app}/readings`.
    dialect_paths = {}
    for name, dialect in DIALECTS.items():
        dialect_paths.setdefault(dialect.token_path, token_api.token_endpoint(name))
        dialect_paths.setdefault(dialect.ingest_path, ingest_endpoint(name))
    ordered = sorted(dialect_paths, key=lambda path: "{" in path)
    return fixed + [
        route(
            "POST",
            path,
            "ingest" if path in {d.ingest_path for d in DIALECTS.values()} else "token",
            dialect_paths[path],
            MAX_BATCH_BYTES,
        )
        for path in ordered
    ]


class DevCloud:
    """Everything a request handler reaches through `cloud`."""

    def __init__(self, store, clock, base_url, admin_key):
        self.store = store
        releases.create_tables(store)
        self.clock = clock
        self.base_url = base_url
        self.admin_key = admin_key
        self.oauth = OAuthServer(store, clock, base_url)
        self.resources = resource_protector(self)
        self.faults = FaultBoard()
        self.routes = build_routes()


@dataclass
class Running:
    """A dev cloud serving in this process."""

    base_url: str
    cloud: DevCloud
    certs: object  # tls.CertPaths, or None for plain HTTP
    data_dir: Path
    http_server: CloudHTTPServer
    thread: object
    lock: int  # the data folder's lock, held until stop()

    def info(self):
        certs = self.certs
        return {
            "url": self.base_url,
            "bind": self.http_server.server_address[0],
            "port": self.http_server.server_address[1],
            "names": tls.server_names(certs) if certs else None,
            "ca_der": str(certs.ca_der) if certs else None,
            "ca_pem": str(certs.ca_pem) if certs else None,
            "admin_key_file": str(self.data_dir / ADMIN_KEY_FILE),
            "data_dir": str(self.data_dir),
            "dashboard": self.base_url + "/dashboard",
            "vclock": self.cloud.clock.vclock_path,
            "pid": os.getpid(),
        }

    def stop(self):
        self.http_server.shutdown()
        self.http_server.server_close()
        self.cloud.clock.close()
        if self.lock is not None:
            running.release(self.lock)
            self.lock = None


def _admin_key(data_dir):
    """The admin key of a data directory, made on first start (mode 0600)."""
    path = data_dir / ADMIN_KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_secret())
    return path.read_text().strip()


def url_host(name):
    """`name` as the host part of a URL (an IPv6 address in brackets, RFC 3986 §3.2.2)."""
    try:
        return f"[{name}]" if ipaddress.ip_address(name).version == 6 else name
    except ValueError:
        return name


def start(data_dir, port=0, memory=False, plain_http=False, vclock=None, bind=HOST, names=()):
    """Serve the dev cloud from `data_dir` (certificates, admin key, database) on `bind`.

    `names`: the host names or addresses devices use to reach it (the server certificate is
    for them and the loopback names; the URL uses the first, else `localhost`).
    `memory=True` keeps the database in memory (tests); `plain_http=True` serves without TLS.
    A UserError when another cloud serves from `data_dir`.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = running.acquire(data_dir)
    try:
        return _start(data_dir, port, memory, plain_http, vclock, bind, names, lock)
    except BaseException:
        running.release(lock)
        raise


def _start(data_dir, port, memory, plain_http, vclock, bind, names, lock):
    certs = None if plain_http else tls.ensure_certificates(data_dir, names)
    scheme = "http" if plain_http else "https"
    if plain_http:
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # authlib refuses http:// otherwise
    store = Store(":memory:" if memory else data_dir / DB_FILE)
    clock = ServerClock(vclock)
    admin_key = _admin_key(data_dir)
    host = url_host(names[0] if names else "localhost")

    def make_cloud(bound_port):
        return DevCloud(store, clock, f"{scheme}://{host}:{bound_port}", admin_key)

    context = None if plain_http else tls.server_context(certs)
    http_server = CloudHTTPServer((bind, port), make_cloud, context)
    serving = Running(
        http_server.cloud.base_url, http_server.cloud, certs, data_dir, http_server, None, lock
    )
    serving.thread = serve_in_thread(http_server)
    running.write_info(data_dir, serving.info())
    return serving
