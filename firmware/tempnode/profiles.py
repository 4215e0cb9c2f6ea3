"""Cloud dialects as data: how each cloud wants tokens asked for, what an expired token looks like,
and where readings go (README, "Cloud wire contract"; clouds-and-tokens.md for the facts).

A profile is selected by `config.json` `cloud.profile`. Its fields:

- `token_path`, `token_body` ("form" or "json"): the token endpoint and its request encoding.
- `grants`: the renewal grants the device can use, by credential kind (`credential.json`
  `kind`): each is (client_auth, fields). `client_auth` is a pair of sources (id, secret) sent
  as HTTP Basic (RFC 6749 §2.3.1), or None; a missing secret means a public client, which puts
  its id in the body instead. `fields` are (name, source) pairs. A source is "=text" (that
  literal), "config.NAME" (`config.json` `cloud.NAME`), "secrets.NAME" (`secrets.json`) or
  "credential.NAME" (`credential.json`). A credential kind absent from `grants` (the
  `spark2014` access token) cannot be renewed on the device.
- `reply`: the token reply's keys for (access token, refresh token, lifetime in seconds);
  None where the dialect has no such key (Speckle gives no lifetime).
- `expired`: rules that classify a resource reply as "the access token was rejected: renew once
  and retry once". A rule is (status, error, text): status 0 matches any status; `error` (or
  None for any) is compared with the body's `error` and the `WWW-Authenticate` error
  parameter; `text` (or None) must occur in the body's `error_description`, lower-cased.
  403 `insufficient_scope` is in no rule: renewing cannot fix a configuration error.
- `refused`: rules in the same form for a token endpoint's reply that refuses the credential
  for good (the device then needs provisioning). Only an explicit error in a JSON body can
  match (`tempnode.outcomes`): a proxy's 401 page or a redirect never refuses a credential.
- `device_flow`: the RFC 8628 device authorization endpoint and scope, or None.
- `ingest_path`, `ingest_body` ("json" or "particle_event": the form
  `name=tempnode/readings&data=<batch JSON>&private=true`), `ack`: "stored" when the cloud
  lists the stored seqs (`{"stored": [...]}`), "2xx" when a success status means the whole
  batch is stored. A `stored` list in the reply always wins.

Paths may hold `{org}` and `{app}`, filled from `cloud.org` and `cloud.app` (Usergrid).
"""

_CLIENT = ("config.client_id", "secrets.client_secret")
_OAUTH2_GRANTS = {
    "refresh_token": (
        _CLIENT,
        (("grant_type", "=refresh_token"), ("refresh_token", "credential.refresh_token")),
    ),
    "client_credentials": (
        ("credential.client_id", "credential.client_secret"),
        (("grant_type", "=client_credentials"),),
    ),
}
_OAUTH2_REPLY = ("access_token", "refresh_token", "expires_in")
_BEARER_REJECTED = ((401, None, None), (0, "invalid_token", None), (0, "expired_token", None))
# RFC 6749 §5.2: the errors that are final for the credential presented (`invalid_request` is
# not among them: it says the request was malformed, which a later request may not be).
_OAUTH2_REFUSED = (
    (0, "invalid_grant", None),
    (0, "invalid_client", None),
    (0, "unauthorized_client", None),
    (0, "unsupported_grant_type", None),
    (0, "invalid_scope", None),
    (0, "access_denied", None),
    (0, "expired_token", None),
)

PROFILES = {
    "oauth2": {
        "token_path": "/oauth/token",
        "token_body": "form",
        "grants": _OAUTH2_GRANTS,
        "reply": _OAUTH2_REPLY,
        "expired": _BEARER_REJECTED,
        "refused": _OAUTH2_REFUSED,
        "device_flow": ("/oauth/device_authorization", "readings"),
        "ingest_path": "/api/v1/readings",
        "ingest_body": "json",
        "ack": "stored",
    },
    "particle": {
        "token_path": "/oauth/token",
        "token_body": "form",
        "grants": _OAUTH2_GRANTS,
        "reply": _OAUTH2_REPLY,
        "expired": _BEARER_REJECTED,
        "refused": _OAUTH2_REFUSED,
        "device_flow": None,
        "ingest_path": "/v1/devices/events",
        "ingest_body": "particle_event",
        "ack": "2xx",
    },
    "spark2014": {
        "token_path": "/oauth/token",
        "token_body": "form",
        "grants": {},
        "reply": _OAUTH2_REPLY,
        # The seed's OAuth library answered an expired token on an API call with 400
        # invalid_grant (clouds-and-tokens.md); later versions send 401 invalid_token.
        "expired": ((400, "invalid_grant", "access token"),) + _BEARER_REJECTED,
        "refused": _OAUTH2_REFUSED,
        "device_flow": None,
        "ingest_path": "/v1/devices/events",
        "ingest_body": "particle_event",
        "ack": "2xx",
    },
    "usergrid": {
        "token_path": "/{org}/{app}/token",
        "token_body": "json",
        "grants": {
            "client_credentials": (
                None,
                (
                    ("grant_type", "=client_credentials"),
                    ("client_id", "credential.client_id"),
                    ("client_secret", "credential.client_secret"),
                ),
            ),
        },
        "reply": _OAUTH2_REPLY,
        "expired": ((401, None, None),),
        "refused": _OAUTH2_REFUSED,
        "device_flow": None,
        "ingest_path": "/{org}/{app}/readings",
        "ingest_body": "json",
        "ack": "stored",
    },
    "speckle": {
        "token_path": "/auth/token",
        "token_body": "json",
        "grants": {
            "refresh_token": (
                None,
                (
                    ("appId", "config.app_id"),
                    ("appSecret", "secrets.app_secret"),
                    ("refreshToken", "credential.refresh_token"),
                ),
            ),
        },
        "reply": ("token", "refreshToken", None),
        "expired": ((401, None, None),),
        # Speckle's token endpoint says why in a free-text `err` (clouds-and-tokens.md).
        "refused": ((400, None, None), (401, None, None), (403, None, None)),
        "device_flow": None,
        "ingest_path": "/api/tempnode/readings",
        "ingest_body": "json",
        "ack": "stored",
    },
}


def get(name):
    profile = PROFILES.get(name)
    if profile is None:
        raise ValueError("cloud.profile %r is not one of %s" % (name, ", ".join(PROFILES)))
    return profile


def expand_path(template, cloud):
    """`template` with `{org}` and `{app}` replaced by `cloud.org` and `cloud.app`."""
    for key in ("org", "app"):
        marker = "{" + key + "}"
        if marker in template:
            template = template.replace(marker, cloud[key])
    return template


def rejects_token(profile, reply):
    """True when `reply` (an http.Response to a resource call) says the access token is
    expired or otherwise not accepted, by the profile's rules."""
    return 400 <= reply.status < 500 and matches(profile["expired"], reply)


def matches(rules, reply):
    """True when `reply` matches one of `rules` (the `expired` / `refused` form above)."""
    body = reply.json()
    if not isinstance(body, dict):
        body = {}
    challenge = reply.header("www-authenticate") or ""
    description = str(body.get("error_description", "")).lower()
    for status, error, text in rules:
        if status and status != reply.status:
            continue
        if error and body.get("error") != error and ('error="%s"' % error) not in challenge:
            continue
        if text and text not in description:
            continue
        return True
    return False
