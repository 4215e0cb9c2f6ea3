"""SQLite storage for the dev cloud: devices, clients, tokens, codes, readings and events.

Secrets are stored the way real servers store them: tokens, device and user codes,
authorization codes and client secrets as SHA-256 digests (long random strings, so a plain
digest is enough), passwords with scrypt. One connection serves every thread behind one lock:
an in-memory SQLite database exists per connection, and the load is a handful of devices.
"""

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
from contextlib import contextmanager

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    username TEXT UNIQUE,
    password_hash TEXT,
    org TEXT,
    app TEXT,
    access_ttl_s REAL,          -- NULL: the global or dialect default
    refresh_ttl_s REAL,
    rotation TEXT,
    grace_s REAL,
    dropped INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    profile TEXT NOT NULL,
    device_id TEXT,             -- NULL: a client shared by every device of its dialect
    redirect_uri TEXT
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,         -- access | refresh
    hash TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    family TEXT NOT NULL,       -- every token descended from one grant
    grant_type TEXT NOT NULL,
    scope TEXT NOT NULL,
    issued_at REAL NOT NULL,
    expires_at REAL,            -- NULL: never
    revoked_at REAL,
    rotated_at REAL,            -- refresh: when it was exchanged for a successor
    successor BLOB              -- refresh: the successor reply, sealed with this token
);
CREATE INDEX IF NOT EXISTS tokens_by_family ON tokens (family);
CREATE INDEX IF NOT EXISTS tokens_by_device ON tokens (device_id);
CREATE TABLE IF NOT EXISTS device_codes (
    hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,  -- its digest too: it lets a person approve a login
    client_id TEXT NOT NULL,
    scope TEXT,
    expires_at REAL NOT NULL,
    interval_s INTEGER NOT NULL,
    last_poll_at REAL,
    decision TEXT,              -- NULL: pending | approved | denied
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS auth_codes (
    hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    redirect_uri TEXT,
    scope TEXT,
    challenge TEXT,
    challenge_method TEXT,
    expires_at REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS readings (
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sensor TEXT NOT NULL,
    label TEXT,
    t REAL,                     -- Unix seconds; NULL when the device's clock was unknown
    mono_ms INTEGER,
    boot INTEGER,
    c REAL,
    error TEXT,
    received_at REAL NOT NULL,
    PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    device_id TEXT,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_device ON events (device_id, id);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def new_secret(nbytes=32):
    """A random URL-safe secret that never starts with "-", so it can follow a command-line
    option (`--client-secret VALUE`) without being read as one."""
    while (secret := secrets.token_urlsafe(nbytes)).startswith("-"):
        pass
    return secret


def digest(secret):
    """The at-rest form of a token, code or client secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password):
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${key.hex()}"


def check_password(password, stored):
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt, key = stored.split("$")
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(got.hex(), key)


def check_digest(secret, stored):
    return hmac.compare_digest(digest(secret), stored)


class Store:
    """The database. `tx()` gives a connection inside one serialised transaction."""

    def __init__(self, path=":memory:"):
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    @contextmanager
    def tx(self):
        with self._lock:
            outermost = self._depth == 0
            if outermost:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._db
            except BaseException:
                self._depth -= 1
                if outermost:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outermost:
                self._db.execute("COMMIT")

    def one(self, sql, *args):
        with self.tx() as db:
            return db.execute(sql, args).fetchone()

    def all(self, sql, *args):
        with self.tx() as db:
            return db.execute(sql, args).fetchall()

    def run(self, sql, *args):
        with self.tx() as db:
            return db.execute(sql, args).rowcount

    def log_event(self, at, device_id, kind, **detail):
        """One line of the event log; `detail` holds ids and reasons, never a secret."""
        self.run(
            "INSERT INTO events (at, device_id, kind, detail) VALUES (?, ?, ?, ?)",
            at,
            device_id,
            kind,
            json.dumps(detail, sort_keys=True),
        )

    def events(self, device_id=None, kind=None, after_id=0):
        rows = self.all(
            "SELECT * FROM events WHERE id > ? AND (? IS NULL OR device_id = ?)"
            " AND (? IS NULL OR kind = ?) ORDER BY id",
            after_id,
            device_id,
            device_id,
            kind,
            kind,
        )
        return [
            {
                "id": r["id"],
                "at": r["at"],
                "device": r["device_id"],
                "kind": r["kind"],
                **json.loads(r["detail"]),
            }
            for r in rows
        ]

    def setting(self, key, default=None):
        row = self.one("SELECT value FROM settings WHERE key = ?", key)
        return default if row is None else json.loads(row["value"])

    def set_setting(self, key, value):
        if value is None:
            self.run("DELETE FROM settings WHERE key = ?", key)
        else:
            self.run(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                key,
                json.dumps(value),
            )
