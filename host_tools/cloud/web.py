"""Requests, responses and routes: the small web layer every dev-cloud endpoint uses."""

import json
import math
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

JSON_HEADERS = (("Content-Type", "application/json"), ("Cache-Control", "no-store"))


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: object  # email.message.Message: case-insensitive `get`
    body: bytes
    route: dict = field(default_factory=dict)  # path parameters

    @property
    def content_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list = field(default_factory=list)


class HttpError(Exception):
    """A client error with a JSON body; raised anywhere below a handler."""

    def __init__(self, status, error, description, headers=()):
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}
        self.headers = list(headers)


def encode_json(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def json_response(status, obj, headers=()):
    return Response(status, encode_json(obj), [*JSON_HEADERS, *headers])


def html_response(status, html, headers=()):
    return Response(
        status, html.encode(), [("Content-Type", "text/html; charset=utf-8"), *headers]
    )


def redirect(location):
    return Response(303, b"", [("Location", location)])


def form_fields(request):
    """An `application/x-www-form-urlencoded` body as a dict; a repeated name is an error
    (RFC 6749 §3.2: parameters MUST NOT be included more than once)."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise HttpError(
            400,
            "invalid_request",
            "Send the parameters as application/x-www-form-urlencoded.",
        )
    try:
        pairs = parse_qsl(
            request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False
        )
    except UnicodeDecodeError:
        raise HttpError(400, "invalid_request", "The form is not valid UTF-8.") from None
    fields = {}
    for name, value in pairs:
        if name in fields:
            raise HttpError(400, "invalid_request", f"The parameter {name!r} is repeated.")
        fields[name] = value
    return fields


def is_number(value):
    """A finite JSON number (not a bool, not NaN or infinity)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _no_constant(name):
    raise ValueError(f"{name} is not JSON (RFC 8259 §6)")


def strict_json(text):
    """JSON as RFC 8259 has it: NaN and Infinity, which Python's json accepts, are refused."""
    return json.loads(text, parse_constant=_no_constant)


def json_object(request):
    """An `application/json` body that must be one JSON object."""
    if request.content_type != "application/json":
        raise HttpError(415, "invalid_request", "Send the body as application/json.")
    try:
        value = strict_json(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, "invalid_request", f"The body is not valid JSON ({exc}).") from None
    if not isinstance(value, dict):
        raise HttpError(400, "invalid_request", "The body must be a JSON object.")
    return value


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    endpoint: str  # the name faults are aimed at; "" for routes that never fail on purpose
    handler: object  # handler(cloud, request) -> Response
    body_limit: int
    options: dict = field(default_factory=dict)


def route(method, template, endpoint, handler, body_limit=16 * 1024, **options):
    """A route from a path template whose `{name}` parts are path parameters."""
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return Route(method, re.compile(regex + r"\Z"), endpoint, handler, body_limit, options)


def match(routes, method, path):
    """(route, path parameters) for a request, or (None, allowed methods for that path)."""
    allowed = []
    for candidate in routes:
        found = candidate.pattern.match(path)
        if found:
            if candidate.method == method:
                return candidate, found.groupdict()
            allowed.append(candidate.method)
    return None, allowed
