"""The ingest API: a batch of readings per request, stored once per (device, seq).

The batch is the README's JSON in every dialect; only the envelope differs (a JSON body, or a
Particle event whose `data` field holds the batch). A batch is checked whole before anything
is stored: one bad reading rejects the batch with a 4xx naming it, and stores nothing.
"""

import math

from authlib.oauth2.rfc6749.errors import MissingAuthorizationError, UnsupportedTokenTypeError
from authlib.oauth2.rfc6749.resource_protector import ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError

from . import releases
from .dialects import DIALECTS, ERROR_REPLIES, MISSING_TOKEN
from .records import find_device, find_token
from .web import HttpError, form_fields, json_object, json_response, strict_json

MAX_BATCH_BYTES = 64 * 1024
MAX_READINGS = 1000
NO_READING_REASONS = (
    "crc",
    "absent",
    "power_on_value",
    "bus_short",
    "range",
    "fault",
    "stuck",
    "unconfirmed",
)
PARTICLE_EVENT_NAME = "tempnode/readings"
REALM = "tempnode"


class _Rejected(InvalidTokenError):
    def __init__(self, record, reason):
        super().__init__()
        self.record = record
        self.reason = reason


class _AccessTokens(BearerTokenValidator):
    """RFC 6750 bearer tokens checked against the store; says *why* a token is refused."""

    def __init__(self, cloud):
        super().__init__(realm=REALM)
        self.cloud = cloud

    def authenticate_token(self, token_string):
        return find_token(self.cloud.store, token_string, self.cloud.clock.now(), "access")

    def validate_token(self, token, scopes, request):
        if token is None:
            raise _Rejected(None, "unknown")
        if token.is_revoked():
            raise _Rejected(token, "revoked")
        if token.is_expired():
            raise _Rejected(token, "expired")


def resource_protector(cloud):
    protector = ResourceProtector()
    protector.register_token_validator(_AccessTokens(cloud))
    return protector


def token_rejection(cloud, path_dialect, error):
    """The dialect's reply to a missing, expired or unknown access token (dialects table)."""
    if isinstance(error, MissingAuthorizationError):
        body = ERROR_REPLIES[path_dialect.error_reply](401, MISSING_TOKEN)
        return json_response(401, body, [("WWW-Authenticate", f'Bearer realm="{REALM}"')])
    record = getattr(error, "record", None)
    reason = getattr(error, "reason", "malformed")
    dialect = find_device(cloud.store, record.device_id).dialect if record else path_dialect
    cloud.oauth.event(
        record.device_id if record else None,
        "rejected",
        where="api",
        reason=reason,
        token_id=record.id if record else None,
    )
    shape = dialect.expired if reason == "expired" else dialect.invalid
    headers = []
    if shape.www_authenticate:
        challenge = 'Bearer realm="{}", error="invalid_token", error_description="{}"'
        headers.append(
            ("WWW-Authenticate", challenge.format(REALM, shape.body["error_description"]))
        )
    return json_response(shape.status, shape.body, headers)


def _batch_json(request, dialect):
    if dialect.ingest_body == "json":
        return json_object(request)
    fields = form_fields(request)
    if fields.get("name") != PARTICLE_EVENT_NAME:
        raise HttpError(400, "invalid_request", f"The event name must be {PARTICLE_EVENT_NAME}.")
    try:
        batch = strict_json(fields.get("data", ""))
    except ValueError as exc:
        raise HttpError(400, "invalid_request", f"The event data is not valid JSON ({exc}).")
    if not isinstance(batch, dict):
        raise HttpError(400, "invalid_request", "The event data must be a JSON object.")
    return batch


def _bad(message):
    raise HttpError(400, "invalid_request", message)


def _whole(value, name, required=True):
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        _bad(f"{name} must be a whole number from 0 to 2**63-1.")
    return value


def _text(value, name, required=True):
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        _bad(f"{name} must be a string of 1 to 64 characters.")
    return value


def _one_of(reading, names, where):
    present = [n for n in names if reading.get(n) is not None]
    if len(present) != 1:
        _bad(f"{where} needs exactly one of {' or '.join(names)}.")
    return present[0]


def check_reading(reading, where):
    """One reading as a row (seq, sensor, label, t, mono_ms, boot, c, error)."""
    if not isinstance(reading, dict):
        _bad(f"{where} must be a JSON object.")
    row = {
        "seq": _whole(reading.get("seq"), where + ".seq"),
        "sensor": _text(reading.get("sensor"), where + ".sensor"),
        # A sensor without a configured label may come with "" (the same as none).
        "label": _text(reading.get("label") or None, where + ".label", required=False),
        "boot": _whole(reading.get("boot"), where + ".boot", required=False),
        "t": None,
        "mono_ms": None,
        "c": None,
        "error": None,
    }
    if _one_of(reading, ("t", "mono_ms"), where) == "t":
        t = reading["t"]
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t < 2**40:
            _bad(f"{where}.t must be Unix seconds.")
        row["t"] = float(t)
    else:
        row["mono_ms"] = _whole(reading["mono_ms"], where + ".mono_ms")
    if _one_of(reading, ("c", "error"), where) == "c":
        c = reading["c"]
        if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c):
            _bad(f"{where}.c must be a number (degrees Celsius).")
        row["c"] = float(c)
    elif reading["error"] not in NO_READING_REASONS:
        _bad(f"{where}.error must be one of {', '.join(NO_READING_REASONS)}.")
    else:
        row["error"] = reading["error"]
    return row


def check_batch(batch, device_id):
    """(rows, batch facts) for a batch posted by `device_id`; raises HttpError when bad."""
    if batch.get("device") != device_id:
        _bad(f"'device' must be {device_id!r}, the device this access token belongs to.")
    readings = batch.get("readings")
    if not isinstance(readings, list) or len(readings) > MAX_READINGS:
        _bad(f"'readings' must be a list of at most {MAX_READINGS} readings.")
    rows = [check_reading(r, f"readings[{i}]") for i, r in enumerate(readings)]
    facts = {
        "sent_mono_ms": _whole(batch.get("sent_mono_ms"), "sent_mono_ms", required=False),
        "dropped": _whole(batch.get("dropped", 0), "dropped"),
        "boot": _whole(batch.get("boot"), "boot", required=False),
    }
    if facts["sent_mono_ms"] is None and any(r["mono_ms"] is not None for r in rows):
        _bad("'sent_mono_ms' is needed when a reading carries mono_ms.")
    return rows, facts


def _wall_time(row, facts, received_at):
    """`mono_ms` to Unix time with the sender's clock at send time; only within one boot."""
    if row["t"] is not None or row["boot"] != facts["boot"]:
        return row["t"]
    return received_at - (facts["sent_mono_ms"] - row["mono_ms"]) / 1000


_SAME = ("sensor", "label", "c", "error")


def store_batch(cloud, device_id, rows, facts):
    """Insert what is new; returns every seq of the batch the store now holds."""
    now = cloud.clock.now()
    conflicts = []
    with cloud.store.tx() as db:
        for row in rows:
            old = db.execute(
                "SELECT * FROM readings WHERE device_id = ? AND seq = ?", (device_id, row["seq"])
            ).fetchone()
            if old is not None:
                if any(old[k] != row[k] for k in _SAME):
                    conflicts.append(row["seq"])
                continue
            db.execute(
                "INSERT INTO readings (device_id, seq, sensor, label, t, mono_ms, boot, c, error,"
                " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    device_id,
                    row["seq"],
                    row["sensor"],
                    row["label"],
                    _wall_time(row, facts, now),
                    row["mono_ms"],
                    row["boot"],
                    row["c"],
                    row["error"],
                    now,
                ),
            )
        db.execute(
            "UPDATE devices SET dropped = MAX(dropped, ?) WHERE id = ?",
            (facts["dropped"], device_id),
        )
    if conflicts:
        # The same seq with different content: a device bug worth seeing on the dashboard.
        cloud.oauth.event(device_id, "seq_conflict", seqs=conflicts[:50])
    return sorted({row["seq"] for row in rows})


def ingest_endpoint(dialect_name):
    """The handler for a dialect's readings path."""
    path_dialect = DIALECTS[dialect_name]

    def handle(cloud, request):
        try:
            token = cloud.resources.validate_request(None, request)
        except (InvalidTokenError, MissingAuthorizationError, UnsupportedTokenTypeError) as error:
            return token_rejection(cloud, path_dialect, error)
        device = find_device(cloud.store, token.device_id)
        if device is None or not cloud.oauth.place_matches(device, request.route):
            return token_rejection(cloud, path_dialect, _Rejected(None, "other_app"))
        batch = _batch_json(request, path_dialect)
        rows, facts = check_batch(batch, device.id)
        stored = store_batch(cloud, device.id, rows, facts)
        releases.note_batch(cloud, device.id, batch)  # the firmware it runs, its last update
        return json_response(200, {"stored": stored})

    return handle
