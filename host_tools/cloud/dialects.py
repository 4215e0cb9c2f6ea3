"""Every cloud dialect the dev cloud speaks, as data: one row per dialect, no per-dialect code.

The README's "Cloud wire contract" is the spec; the facts behind each row are in
`shared/reference/clouds-and-tokens.md`. The OAuth2 machinery (authlib) is the same for all;
a row says how a dialect's requests are translated into standard OAuth2 parameters, how the
standard replies are reshaped, what an API call with a bad access token gets back, and where
its readings go.
"""

from dataclasses import dataclass, field

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
SCOPE = "readings"
DAY = 86400

# How a token reply or a token error is reshaped per dialect (RFC 6749 §5.1 / §5.2 in, the
# dialect's own JSON out). `presented` is the refresh token the request carried, if any.
TOKEN_REPLIES = {
    "oauth2": lambda reply, presented: reply,
    # Speckle: {token, refreshToken}, no expires_in; without rotation the same refresh token.
    "speckle": lambda reply, presented: {
        "token": reply["access_token"],
        "refreshToken": reply.get("refresh_token", presented),
    },
}
ERROR_REPLIES = {
    "oauth2": lambda status, body: body,
    # The 2014 Spark cloud's OAuth library put the status code into the body.
    "spark": lambda status, body: {"code": status, **body},
    "speckle": lambda status, body: {"err": body.get("error_description") or body["error"]},
}


@dataclass(frozen=True)
class Rejection:
    """What an API call gets back for an access token that is expired or not valid."""

    status: int
    body: dict
    www_authenticate: bool  # RFC 6750 §3: `WWW-Authenticate: Bearer error="invalid_token"`


@dataclass(frozen=True)
class Dialect:
    name: str
    token_path: str  # `{org}`/`{app}` are path parameters
    token_body: str  # form | json
    # json dialects: JSON key -> OAuth2 parameter; the grant type is named by a field or
    # inferred from which field is present.
    json_fields: dict = field(default_factory=dict)
    grant_by_field: tuple = ()
    grant_types: tuple = ()  # what the device's client may use
    client_auth: tuple = ("client_secret_basic",)
    token_reply: str = "oauth2"
    error_reply: str = "oauth2"
    access_ttl_s: float = 3600
    refresh_ttl_s: float = 30 * DAY  # 0: never expires
    rotation: str = "on"  # on | off | keep_old (a new refresh token, the old one stays valid)
    grace_s: float = 0
    ttl_ms_param: bool = False  # Usergrid: a per-request `ttl` in ms, <= the app maximum
    password_login_revokes_previous: bool = False  # Spark 2014
    expired: Rejection = None
    invalid: Rejection = None
    ingest_path: str = "/api/v1/readings"
    ingest_body: str = "json"  # json | particle_event


def _bearer(description):
    return Rejection(
        401, {"error": "invalid_token", "error_description": description}, www_authenticate=True
    )


_PARTICLE_INVALID = _bearer("The access token provided is invalid.")
_SPARK_EXPIRED = Rejection(
    400,
    {
        "code": 400,
        "error": "invalid_grant",
        "error_description": "The access token provided has expired.",
    },
    www_authenticate=False,
)
_SPARK_INVALID = Rejection(
    400,
    {
        "code": 400,
        "error": "invalid_grant",
        "error_description": "The access token provided is invalid.",
    },
    www_authenticate=False,
)

DIALECTS = {
    d.name: d
    for d in (
        Dialect(
            name="oauth2",
            token_path="/oauth/token",
            token_body="form",
            grant_types=("refresh_token", "client_credentials", DEVICE_CODE, "password"),
            client_auth=("client_secret_basic", "client_secret_post"),
            expired=_bearer("The access token expired."),
            invalid=_bearer("The access token is not valid."),
        ),
        Dialect(
            name="particle",
            token_path="/oauth/token",
            token_body="form",
            grant_types=("refresh_token", "client_credentials", "password"),
            access_ttl_s=90 * DAY,
            refresh_ttl_s=0,
            rotation="off",
            expired=_PARTICLE_INVALID,
            invalid=_PARTICLE_INVALID,
            ingest_path="/v1/devices/events",
            ingest_body="particle_event",
        ),
        Dialect(
            name="spark2014",
            token_path="/oauth/token",
            token_body="form",
            grant_types=("password",),
            error_reply="spark",
            access_ttl_s=90 * DAY,
            refresh_ttl_s=0,
            rotation="off",
            password_login_revokes_previous=True,
            expired=_SPARK_EXPIRED,
            invalid=_SPARK_INVALID,
            ingest_path="/v1/devices/events",
            ingest_body="particle_event",
        ),
        Dialect(
            name="usergrid",
            token_path="/{org}/{app}/token",
            token_body="json",
            json_fields={
                "grant_type": "grant_type",
                "username": "username",
                "password": "password",
                "client_id": "client_id",
                "client_secret": "client_secret",
            },
            grant_types=("client_credentials", "password"),
            client_auth=("client_secret_post",),
            access_ttl_s=7 * DAY,
            refresh_ttl_s=0,
            rotation="off",
            ttl_ms_param=True,
            expired=Rejection(
                401,
                {
                    "error": "expired_token",
                    "error_description": "Unable to authenticate due to expired access token",
                },
                www_authenticate=False,
            ),
            invalid=Rejection(
                401,
                {
                    "error": "auth_bad_access_token",
                    "error_description": "Unable to authenticate due to corrupt access token",
                },
                www_authenticate=False,
            ),
            ingest_path="/{org}/{app}/readings",
        ),
        Dialect(
            name="speckle",
            token_path="/auth/token",
            token_body="json",
            json_fields={
                "appId": "client_id",
                "appSecret": "client_secret",
                "accessCode": "code",
                "challenge": "code_verifier",
                "refreshToken": "refresh_token",
            },
            grant_by_field=(
                ("refreshToken", "refresh_token"),
                ("accessCode", "authorization_code"),
            ),
            grant_types=("authorization_code", "refresh_token"),
            client_auth=("client_secret_post",),
            token_reply="speckle",
            error_reply="speckle",
            access_ttl_s=7 * DAY,
            refresh_ttl_s=180 * DAY,
            rotation="keep_old",
            expired=Rejection(401, {"err": "Your token has expired."}, www_authenticate=False),
            invalid=Rejection(401, {"err": "Your token is not valid."}, www_authenticate=False),
            ingest_path="/api/tempnode/readings",
        ),
    )
}

ROTATIONS = ("on", "off", "keep_old")
# A request with no access token at all (RFC 6750 §3.1: no error code in the challenge).
MISSING_TOKEN = {
    "error_description": "This request needs an access token (Authorization: Bearer)."
}
