"""Cloud dialects as data: how each cloud wants tokens asked for, what an expired token looks like,
and where readings go (README, "Cloud wire contract"; clouds-and-tokens.md for the facts).

    profile = profiles.for_cloud(config["cloud"])   # the dialect, with the config's options

A profile is selected by `config.json` `cloud.profile`. Its fields:

- `token_url`, `token_body` ("form" or "json"): the token endpoint and its request encoding.
- `client_auth`: how a confidential client authenticates at the token endpoint (RFC 6749
  §2.3.1): "client_secret_basic" (HTTP Basic), "client_secret_post" (`client_id` and
  `client_secret` in the body) or "none" (a public client: `client_id` in the body).
- `grants`: the renewal grants the device can use, by credential kind (`credential.json`
  `kind`): each is (client, fields). `client` is a pair of sources (id, secret) that
  authenticates the client as `client_auth` says, or None; a missing secret means a public
  client. `fields` are (name, source) pairs. A source is "=text" (that literal), "config.NAME"
  (`config.json` `cloud.NAME`), "secrets.NAME" (`secrets.json`), "credential.NAME"
  (`credential.json`) or "profile.access_scope" (`scope` without `offline_access`, which asks
  for refresh tokens and means nothing to a client credentials grant). A credential kind
  absent from `grants` (the `spark2014` access token) cannot be renewed on the device.
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
- `device_authorization_url`, `scope`: the RFC 8628 device authorization endpoint (None: no
  device flow) and the scope it asks for.
- `readings_url`, `readings_body` ("json" or "particle_event": the form
  `name=tempnode/readings&data=<batch JSON>&private=true`), `ack`: "stored" when the cloud
  lists the stored seqs (`{"stored": [...]}`), "2xx" when a success status means the whole
  batch is stored. A `stored` list in the reply always wins.
- `ota_path`: where the cloud serves signed firmware updates (`tempnode.ota`), or None for a
  cloud that offers none (the device then never asks).

`OPTIONS` are the fields `config.json` `cloud` may set for its own server (README, "Your own
cloud"); a URL is absolute (any host) or a path relative to `cloud.base_url`. Paths may hold
`{org}` and `{app}`, filled from `cloud.org` and `cloud.app` (Usergrid).

The table is built only when a profile is asked for, and only the one selected is kept: the
five of them would cost the heap about 2.5 KB on a 32-bit board for the life of the logger.
"""

NAMES = ("oauth2", "particle", "spark2014", "usergrid", "speckle")
OPTIONS = (
    "token_url",
    "device_authorization_url",
    "readings_url",
    "scope",
    "client_auth",
    "ack",
    "readings_body",
)


def _table(name):
    client = ("config.client_id", "secrets.client_secret")
    oauth2_grants = {
        "refresh_token": (
            client,
            (("grant_type", "=refresh_token"), ("refresh_token", "credential.refresh_token")),
        ),
        "client_credentials": (
            ("credential.client_id", "credential.client_secret"),
            # A server gives a client what it asks for (RFC 6749 §4.4.2): without a scope, a
            # token the readings API refuses (403 insufficient_scope).
            (("grant_type", "=client_credentials"), ("scope", "profile.access_scope")),
        ),
    }
    oauth2_reply = ("access_token", "refresh_token", "expires_in")
    bearer_rejected = ((401, None, None), (0, "invalid_token", None), (0, "expired_token", None))
    # RFC 6749 §5.2: the errors that are final for the credential presented (`invalid_request`
    # is not among them: it says the request was malformed, which a later request may not be).
    oauth2_refused = (
        (0, "invalid_grant", None),
        (0, "invalid_client", None),
        (0, "unauthorized_client", None),
        (0, "unsupported_grant_type", None),
        (0, "invalid_scope", None),
        (0, "access_denied", None),
        (0, "expired_token", None),
    )
    oauth2 = {
        "token_url": "/oauth/token",
        "token_body": "form",
        "client_auth": "client_secret_basic",
        "grants": oauth2_grants,
        "reply": oauth2_reply,
        "expired": bearer_rejected,
        "refused": oauth2_refused,
        "device_authorization_url": "/oauth/device_authorization",
        "scope": "readings",
        "readings_url": "/api/v1/readings",
        "readings_body": "json",
        "ack": "stored",
        "ota_path": "/api/v1/ota",
    }
    if name == "oauth2":
        return oauth2
    # The others: no device flow, no updates.
    oauth2_without_updates = dict(oauth2, device_authorization_url=None, ota_path=None)
    particle = dict(
        oauth2_without_updates,
        readings_url="/v1/devices/events",
        readings_body="particle_event",
        ack="2xx",
    )
    if name == "particle":
        return particle
    if name == "spark2014":
        return dict(
            particle,
            grants={},
            # The seed's OAuth library answered an expired token on an API call with 400
            # invalid_grant (clouds-and-tokens.md); later versions send 401 invalid_token.
            expired=((400, "invalid_grant", "access token"),) + bearer_rejected,
        )
    if name == "usergrid":
        return dict(
            oauth2_without_updates,
            token_url="/{org}/{app}/token",
            token_body="json",
            client_auth="none",
            grants={
                "client_credentials": (
                    None,
                    (
                        ("grant_type", "=client_credentials"),
                        ("client_id", "credential.client_id"),
                        ("client_secret", "credential.client_secret"),
                    ),
                ),
            },
            expired=((401, None, None),),
            readings_url="/{org}/{app}/readings",
        )
    if name == "speckle":
        return dict(
            oauth2_without_updates,
            token_url="/auth/token",
            token_body="json",
            client_auth="none",
            grants={
                "refresh_token": (
                    None,
                    (
                        ("appId", "config.app_id"),
                        ("appSecret", "secrets.app_secret"),
                        ("refreshToken", "credential.refresh_token"),
                    ),
                ),
            },
            reply=("token", "refreshToken", None),
            expired=((401, None, None),),
            # Speckle's token endpoint says why in a free-text `err` (clouds-and-tokens.md).
            refused=((400, None, None), (401, None, None), (403, None, None)),
            readings_url="/api/tempnode/readings",
        )
    raise ValueError("cloud.profile %r is not one of %s" % (name, ", ".join(NAMES)))


def get(name):
    """The dialect `name` as the table has it (no config options applied)."""
    return _table(name)


def for_cloud(cloud):
    """The profile `cloud.profile` with `cloud`'s own options (`OPTIONS`) over its defaults
    and its `{org}`/`{app}` filled in."""
    profile = _table(cloud["profile"])
    for option in OPTIONS:
        if option in cloud:
            profile[option] = cloud[option]
    for key in ("token_url", "device_authorization_url", "readings_url"):
        if profile[key]:
            profile[key] = expand_path(profile[key], cloud)
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
