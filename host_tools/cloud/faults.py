"""Faults on demand: what the next N requests to an endpoint (or those in a time window) suffer.

A fault is data (`Fault`); the HTTP layer (`server.py`) carries it out. The kinds, and whether
the request is processed before the reply is damaged, are one table (`KINDS`): "drop the reply"
is the case that matters most for token rotation, because the server has rotated the refresh
token but the device never learns the new one.
"""

import itertools
import threading
from dataclasses import asdict, dataclass, field

from .web import is_number

ENDPOINTS = ("token", "device_authorization", "revoke", "introspect", "ingest", "ota", "any")


@dataclass(frozen=True)
class Kind:
    processes: bool  # the request is handled (and stored) before the reply is damaged
    what: str


KINDS = {
    "status": Kind(False, "reply with an HTTP error status (default 503)"),
    "rate_limit": Kind(False, "429 with Retry-After in seconds or as an HTTP-date"),
    "latency": Kind(True, "wait delay_ms, then handle the request normally"),
    "reset": Kind(False, "reset the connection (TCP RST) before any reply"),
    "drop_reply": Kind(True, "handle the request, then close the connection without a reply"),
    "truncate": Kind(True, "handle the request, send half the reply body, close"),
    "malformed": Kind(True, "handle the request, reply 200 with a body that is not JSON"),
    "huge_body": Kind(False, "reply 200 with a body of size_bytes (default 10 MB)"),
}

DEFAULTS = {"status": 503, "retry_after_s": 30, "retry_after_form": "seconds", "delay_ms": 1000}
DEFAULT_HUGE = 10 * 1024 * 1024


@dataclass
class Fault:
    id: int
    endpoint: str
    kind: str
    remaining: int | None  # requests still to hit; None: until the window ends
    start: float  # server clock, Unix seconds
    end: float | None
    params: dict = field(default_factory=dict)

    def param(self, name):
        return self.params.get(name, DEFAULTS.get(name))

    def as_dict(self):
        return asdict(self)


def _number(spec, name, minimum, cast=float):
    value = spec.get(name)
    if value is None:
        return None
    if not is_number(value) or value < minimum:
        raise ValueError(f"{name} must be a number >= {minimum}")
    return cast(value)


def parse_fault(spec, now):
    """A `Fault` (without id) from an admin request; raises ValueError with what to fix."""
    endpoint = spec.get("endpoint", "any")
    kind = spec.get("kind")
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    count = _number(spec, "count", 1, int)
    for_s = _number(spec, "for_s", 0)
    start = _number(spec, "from", 0)
    until = _number(spec, "until", 0)
    if for_s is not None and until is not None:
        raise ValueError("give for_s or until, not both")
    start = now if start is None else start
    end = until if until is not None else (start + for_s if for_s is not None else None)
    if count is None and end is None:
        count = 1
    params = {}
    status = _number(spec, "status", 400, int)
    if status is not None:
        if status > 599:
            raise ValueError("status must be an HTTP status from 400 to 599")
        params["status"] = status
    for name, minimum in (("retry_after_s", 0), ("delay_ms", 0), ("size_bytes", 1)):
        value = _number(spec, name, minimum, int)
        if value is not None:
            params[name] = value
    form = spec.get("retry_after_form")
    if form is not None:
        if form not in ("seconds", "date"):
            raise ValueError("retry_after_form must be seconds or date")
        params["retry_after_form"] = form
    return Fault(0, endpoint, kind, count, start, end, params)


class FaultBoard:
    """The active faults, first added first applied; one per request at most."""

    def __init__(self):
        self._faults = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, fault):
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault.id

    def clear(self, fault_id=None):
        with self._lock:
            before = len(self._faults)
            self._faults = (
                [] if fault_id is None else [f for f in self._faults if f.id != fault_id]
            )
            return before - len(self._faults)

    def active(self, now):
        with self._lock:
            self._faults = [f for f in self._faults if not _spent(f, now)]
            return [f.as_dict() for f in self._faults]

    def take(self, endpoint, now):
        """The fault this request to `endpoint` suffers, if any (counting it down)."""
        with self._lock:
            self._faults = [f for f in self._faults if not _spent(f, now)]
            for fault in self._faults:
                if fault.endpoint in (endpoint, "any") and fault.start <= now:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None


def _spent(fault, now):
    return (fault.remaining is not None and fault.remaining <= 0) or (
        fault.end is not None and now >= fault.end
    )
