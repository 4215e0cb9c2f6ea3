"""The OAuth2 HTTP endpoints: each dialect's token request translated to standard parameters
for authlib, and authlib's reply reshaped into the dialect's own JSON (see `dialects.py`)."""

from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error

from .dialects import DIALECTS, ERROR_REPLIES, SCOPE, TOKEN_REPLIES
from .oauth import CloudRequest
from .web import Response, encode_json, form_fields, json_object, json_response


def _oauth_request(cloud, request, data):
    uri = cloud.base_url + request.path
    return CloudRequest(request.method, uri, request.headers, data, route=request.route)


def _json_token_fields(dialect, body):
    """A JSON token request as OAuth2 form parameters, per the dialect's field table."""
    data = {}
    for key, param in dialect.json_fields.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidRequestError(f"{key!r} must be a string.")
        data[param] = value
    for key, grant_type in dialect.grant_by_field:
        if key in body:
            data["grant_type"] = grant_type
            break
    if dialect.grant_by_field and "grant_type" not in data:
        fields = " or ".join(key for key, _ in dialect.grant_by_field)
        raise InvalidRequestError(f"The request needs {fields}.")
    return data


def _requested_ttl_ms(body):
    ttl = body.get("ttl")
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        raise InvalidRequestError("'ttl' must be a whole number of milliseconds >= 0.")
    return ttl


# Device-flow polling answers that are not a refusal (RFC 8628 §3.5).
STILL_WAITING = ("authorization_pending", "slow_down")


def _log_rejection(cloud, oauth_request, error):
    """One `rejected` event per refused token request: the OAuth2 error, or a finer reason."""
    details = dict(oauth_request.rejection)
    client = oauth_request.client
    device = details.pop("device", client.device_id if client else None)
    cloud.oauth.event(
        device,
        "rejected",
        where="token",
        grant=oauth_request.payload.grant_type,
        client=client.client_id if client else None,
        reason=details.pop("reason", error),
        **details,
    )


def _reply(status, body, headers):
    """authlib's (status, body, headers): its headers carry JSON, no-store, WWW-Authenticate."""
    return Response(status, encode_json(body), list(headers))


def token_endpoint(dialect_name):
    """The handler for a token path. The path names the dialect the request body is shaped
    for; the client, once authenticated, names the dialect the reply is shaped for."""
    path_dialect = DIALECTS[dialect_name]

    def handle(cloud, request):
        return _token_reply(cloud, request, path_dialect)

    return handle


def _token_reply(cloud, request, path_dialect):
    oauth_request = None
    try:
        if path_dialect.token_body == "json":
            body = json_object(request)
            oauth_request = _oauth_request(cloud, request, _json_token_fields(path_dialect, body))
            if path_dialect.ttl_ms_param:
                oauth_request.requested_ttl_ms = _requested_ttl_ms(body)
        else:
            oauth_request = _oauth_request(cloud, request, form_fields(request))
    except OAuth2Error as error:
        status, body, headers = error()
        return _reply(status, ERROR_REPLIES[path_dialect.error_reply](status, body), headers)
    with cloud.oauth.lock:
        status, body, headers = cloud.oauth.create_token_response(oauth_request)
    client = oauth_request.client
    dialect = client.dialect if client else path_dialect
    if status != 200 and body.get("error") not in STILL_WAITING:
        _log_rejection(cloud, oauth_request, body["error"])
    if status == 200:
        presented = oauth_request.payload.data.get("refresh_token")
        return _reply(status, TOKEN_REPLIES[dialect.token_reply](body, presented), headers)
    return _reply(status, ERROR_REPLIES[dialect.error_reply](status, body), headers)


def _endpoint(name):
    def handle(cloud, request):
        oauth_request = _oauth_request(cloud, request, form_fields(request))
        status, body, headers = cloud.oauth.create_endpoint_response(name, oauth_request)
        return _reply(status, body, headers)

    handle.__name__ = name
    return handle


device_authorization = _endpoint("device_authorization")
revocation = _endpoint("revocation")
introspection = _endpoint("introspection")


def metadata(cloud, request):
    """RFC 8414 authorization server metadata, for the standard (`oauth2`) dialect."""
    base = cloud.base_url
    return json_response(
        200,
        {
            "issuer": base,
            "token_endpoint": base + DIALECTS["oauth2"].token_path,
            "device_authorization_endpoint": base + "/oauth/device_authorization",
            "revocation_endpoint": base + "/oauth/revoke",
            "introspection_endpoint": base + "/oauth/introspect",
            "grant_types_supported": list(DIALECTS["oauth2"].grant_types),
            "token_endpoint_auth_methods_supported": list(DIALECTS["oauth2"].client_auth),
            "scopes_supported": [SCOPE],
            "code_challenge_methods_supported": ["plain", "S256"],
        },
    )


def token_paths():
    """Each distinct token path with the dialect whose request shape it takes."""
    paths = {}
    for dialect in DIALECTS.values():
        paths.setdefault(dialect.token_path, dialect.name)
    return paths
