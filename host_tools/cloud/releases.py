"""Firmware releases in the dev cloud: stored as published, served to devices with Range.

The publisher signs on the laptop (`tempnode release publish`); the cloud stores the manifest,
its signature and the files as they came and never holds a key: a device trusts a release
because its signature verifies with the key in its own config, not because the cloud sent it.

Device side (behind the device's ordinary bearer token, as ingest; faults aim at "ota"),
the protocol `firmware/tempnode/staging.py` speaks:

    GET /api/v1/ota/{board}/channels/{channel}        {"version", "manifest_size", "signature"}
    GET /api/v1/ota/{board}/releases/{version}/manifest
    GET /api/v1/ota/{board}/releases/{version}/files/{index}   (index in the manifest's list)

Files and manifests honour one `Range: bytes=first-last` (RFC 9110 §14.2: 206 with
Content-Range, 416 when it lies beyond the end). Admin side: `POST /admin/releases` stores a
release and sets its channel, `GET /admin/releases` lists releases and, per device, the
firmware its last batch named (`note_batch`, called by ingest) and its last update's outcome.
"""

import base64
import hashlib
import json
import re

from authlib.oauth2.rfc6749.errors import MissingAuthorizationError, UnsupportedTokenTypeError
from authlib.oauth2.rfc6750 import InvalidTokenError

from . import ingest  # a module, not its names: ingest imports this module too
from .admin_api import ADMIN_BODY_LIMIT, _admin
from .dialects import DIALECTS
from .web import HttpError, Response, json_object, json_response, route

OTA_PATH = "/api/v1/ota"  # firmware/tempnode/profiles.py: the oauth2 profile's ota_path
PUBLISH_BODY_LIMIT = 4 * 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)\Z")

SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
    board TEXT NOT NULL,
    version TEXT NOT NULL,
    manifest BLOB NOT NULL,     -- the signed bytes, exactly as published
    signature TEXT NOT NULL,    -- Ed25519, hex, made on the publisher laptop
    published_at REAL NOT NULL,
    PRIMARY KEY (board, version)
);
CREATE TABLE IF NOT EXISTS release_files (
    board TEXT NOT NULL,
    version TEXT NOT NULL,
    idx INTEGER NOT NULL,       -- the file's place in the manifest's list
    path TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (board, version, idx)
);
CREATE TABLE IF NOT EXISTS channels (
    channel TEXT NOT NULL,
    board TEXT NOT NULL,
    version TEXT NOT NULL,
    set_at REAL NOT NULL,
    PRIMARY KEY (channel, board)
);
CREATE TABLE IF NOT EXISTS device_firmware (
    device_id TEXT PRIMARY KEY,
    running TEXT,
    update_version TEXT,
    update_outcome TEXT,
    update_reason TEXT,
    seen_at REAL NOT NULL
);
"""


def create_tables(store):
    with store.tx() as db:
        for statement in SCHEMA.split(";"):  # (no ";" inside SCHEMA's comments)
            if statement.strip():
                db.execute(statement)


# -- device side ---------------------------------------------------------------------------
def _authorized(cloud, request):
    """None when the request carries a valid device token, else the 401 reply."""
    try:
        cloud.resources.validate_request(None, request)
    except (InvalidTokenError, MissingAuthorizationError, UnsupportedTokenTypeError) as error:
        return ingest.token_rejection(cloud, DIALECTS["oauth2"], error)
    return None


def _release(cloud, request):
    row = cloud.store.one(
        "SELECT * FROM releases WHERE board = ? AND version = ?",
        request.route["board"],
        request.route["version"],
    )
    if row is None:
        raise HttpError(404, "not_found", "There is no such release for this board.")
    return row


def channel(cloud, request):
    refused = _authorized(cloud, request)
    if refused:
        return refused
    row = cloud.store.one(
        "SELECT r.version, r.manifest, r.signature FROM channels c JOIN releases r"
        " ON r.board = c.board AND r.version = c.version WHERE c.channel = ? AND c.board = ?",
        request.route["channel"],
        request.route["board"],
    )
    if row is None:
        raise HttpError(404, "no_release", "This channel offers no release for this board.")
    return json_response(
        200,
        {
            "version": row["version"],
            "manifest_size": len(row["manifest"]),
            "signature": row["signature"],
        },
    )


def manifest(cloud, request):
    refused = _authorized(cloud, request)
    return refused or ranged(request, bytes(_release(cloud, request)["manifest"]))


def release_file(cloud, request):
    refused = _authorized(cloud, request)
    if refused:
        return refused
    _release(cloud, request)
    try:
        index = int(request.route["index"])
    except ValueError:
        raise HttpError(404, "not_found", "File indexes are numbers.") from None
    row = cloud.store.one(
        "SELECT data FROM release_files WHERE board = ? AND version = ? AND idx = ?",
        request.route["board"],
        request.route["version"],
        index,
    )
    if row is None:
        raise HttpError(404, "not_found", "The release has no file with that index.")
    return ranged(request, bytes(row["data"]))


def ranged(request, data):
    """The whole of `data` (200), or the one byte range the request asks for (206 / 416)."""
    headers = [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes")]
    asked = request.headers.get("Range")
    if asked is None:
        return Response(200, data, headers)
    found = _RANGE.match(asked.strip())
    if not found or found.groups() == ("", ""):
        raise HttpError(400, "invalid_request", "Range must be one bytes=first-last range.")
    first, last = found.groups()
    if first == "":  # the last N bytes
        first, last = max(0, len(data) - int(last)), len(data) - 1
    else:
        first = int(first)
        last = min(int(last), len(data) - 1) if last else len(data) - 1
    if first >= len(data) or last < first:
        return Response(416, b"", [*headers, ("Content-Range", f"bytes */{len(data)}")])
    content_range = ("Content-Range", f"bytes {first}-{last}/{len(data)}")
    return Response(206, data[first : last + 1], [*headers, content_range])


def note_batch(cloud, device_id, batch):
    """Record the firmware a batch names and its update report; an event when either changes.
    Facts that do not fit are ignored: the readings matter more than the report."""
    running = batch.get("firmware")
    update = batch.get("update")
    if not _short_text(running):
        return
    if not (isinstance(update, dict) and _short_text(update.get("version"))):
        update = None
    now = cloud.clock.now()
    old = cloud.store.one("SELECT * FROM device_firmware WHERE device_id = ?", device_id)
    if old is None or old["running"] != running:
        cloud.oauth.event(
            device_id, "firmware", version=running, previous=old["running"] if old else None
        )
    fields = (running, None, None, None)
    if update is not None:
        reason = str(update.get("reason") or "")[:200] or None
        fields = (running, update["version"], str(update.get("outcome"))[:20], reason)
        if old is None or (old["update_version"], old["update_outcome"]) != fields[1:3]:
            cloud.oauth.event(
                device_id, "update_" + fields[2], version=fields[1], reason=fields[3]
            )
    elif old is not None:
        fields = (running, old["update_version"], old["update_outcome"], old["update_reason"])
    cloud.store.run(
        "INSERT OR REPLACE INTO device_firmware (device_id, running, update_version,"
        " update_outcome, update_reason, seen_at) VALUES (?, ?, ?, ?, ?, ?)",
        device_id,
        *fields,
        now,
    )


def device_line(store, device_id):
    """One line for the dashboard: the firmware a device runs and its last update."""
    row = store.one("SELECT * FROM device_firmware WHERE device_id = ?", device_id)
    if row is None:
        return "firmware not reported yet"
    line = f"firmware {row['running']}"
    if row["update_version"]:
        outcome = row["update_outcome"].replace("_", " ")
        line += f" (last update {row['update_version']} {outcome}"
        line += f": {row['update_reason']})" if row["update_reason"] else ")"
    return line


def _short_text(value):
    return isinstance(value, str) and 0 < len(value) <= 64


# -- admin side ----------------------------------------------------------------------------
def publish(cloud, request):
    body = json_object(request)
    channel_name = body.get("channel")
    if not isinstance(channel_name, str) or not _NAME.match(channel_name):
        raise HttpError(400, "invalid_request", "channel must be 1-32 letters, digits, - or _.")
    text, signature = body.get("manifest"), body.get("signature")
    if not isinstance(signature, str) or not re.fullmatch(r"[0-9a-f]{128}", signature):
        raise HttpError(400, "invalid_request", "signature must be 128 lowercase hex digits.")
    try:
        parsed = json.loads(text)
        board, version, entries = parsed["board"], parsed["version"], parsed["files"]
        files = body["files"]
        blobs = [base64.b64decode(files[path], validate=True) for path, _s, _h in entries]
    except (TypeError, ValueError, KeyError) as exc:
        raise HttpError(400, "invalid_request", f"The release is malformed ({exc}).") from None
    for (path, size, digest), data in zip(entries, blobs, strict=True):
        if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
            raise HttpError(400, "invalid_request", f"{path} does not match the manifest.")
    now = cloud.clock.now()
    with cloud.store.tx() as db:
        known = db.execute(
            "SELECT manifest, signature FROM releases WHERE board = ? AND version = ?",
            (board, version),
        ).fetchone()
        if known is not None and (bytes(known["manifest"]), known["signature"]) != (
            text.encode(),
            signature,
        ):
            raise HttpError(
                409, "conflict", f"Version {version} is already published with other contents."
            )
        if known is None:
            db.execute(
                "INSERT INTO releases VALUES (?, ?, ?, ?, ?)",
                (board, version, text.encode(), signature, now),
            )
            for index, ((path, _s, _h), data) in enumerate(zip(entries, blobs, strict=True)):
                db.execute(
                    "INSERT INTO release_files VALUES (?, ?, ?, ?, ?)",
                    (board, version, index, path, data),
                )
        db.execute(
            "INSERT OR REPLACE INTO channels VALUES (?, ?, ?, ?)",
            (channel_name, board, version, now),
        )
    cloud.oauth.event(
        None, "release_published", version=version, board=board, channel=channel_name
    )
    return json_response(
        201, {"version": version, "board": board, "channel": channel_name, "new": known is None}
    )


def listing(cloud, request):
    releases = []
    for row in cloud.store.all(
        "SELECT board, version, published_at, manifest FROM releases ORDER BY published_at"
    ):
        entries = json.loads(row["manifest"])["files"]
        channels = cloud.store.all(
            "SELECT channel FROM channels WHERE board = ? AND version = ? ORDER BY channel",
            row["board"],
            row["version"],
        )
        releases.append(
            {
                "version": row["version"],
                "board": row["board"],
                "published_at": row["published_at"],
                "files": len(entries),
                "bytes": sum(size for _path, size, _digest in entries),
                "channels": [c["channel"] for c in channels],
            }
        )
    devices = [
        dict(row)
        for row in cloud.store.all(
            "SELECT d.id AS device_id, f.running, f.update_version, f.update_outcome,"
            " f.update_reason, f.seen_at FROM devices d LEFT JOIN device_firmware f"
            " ON f.device_id = d.id ORDER BY d.created_at, d.id"
        )
    ]
    return json_response(200, {"releases": releases, "devices": devices})


ROUTES = [
    route("GET", OTA_PATH + "/{board}/channels/{channel}", "ota", channel),
    route("GET", OTA_PATH + "/{board}/releases/{version}/manifest", "ota", manifest),
    route("GET", OTA_PATH + "/{board}/releases/{version}/files/{index}", "ota", release_file),
    route("POST", "/admin/releases", "", _admin(publish), PUBLISH_BODY_LIMIT),
    route("GET", "/admin/releases", "", _admin(listing), ADMIN_BODY_LIMIT),
]
