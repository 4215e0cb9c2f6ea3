# The expiry classifier of every cloud profile, fed each dialect's real "expired" replies.

from tempnode import profiles
from tempnode.http import Response

HEAPSIZE = "256k"


def reply(status, body, challenge=None):
    """A reply whose JSON body was `body`, as the HTTP session hands it over (its fields)."""
    headers = {"www-authenticate": challenge} if challenge else {}
    return Response(status, headers, body)


# What an API call with an expired access token gets back, per dialect (README wire contract).
EXPIRED = {
    "oauth2": reply(
        401,
        {"error": "invalid_token", "error_description": "The access token expired."},
        'Bearer error="invalid_token", error_description="The access token expired."',
    ),
    "particle": reply(
        401,
        {"error": "invalid_token", "error_description": "The access token provided is invalid."},
    ),
    "spark2014": reply(
        400,
        {
            "code": 400,
            "error": "invalid_grant",
            "error_description": "The access token provided has expired.",
        },
    ),
    "usergrid": reply(
        401,
        {
            "error": "expired_token",
            "error_description": "Unable to authenticate due to expired access token",
        },
    ),
    "speckle": reply(401, {"err": "Your token has expired."}),
}
INSUFFICIENT_SCOPE = reply(
    403, {"error": "insufficient_scope"}, 'Bearer error="insufficient_scope", scope="readings"'
)


def test_every_dialect_recognises_its_own_expired_reply():
    for name in profiles.NAMES:
        assert profiles.rejects_token(profiles.get(name), EXPIRED[name]), name


def test_insufficient_scope_never_means_renew():
    for name in profiles.NAMES:
        assert not profiles.rejects_token(profiles.get(name), INSUFFICIENT_SCOPE), name


def test_success_busy_and_bad_request_replies_are_not_expiry():
    others = (
        reply(200, {"stored": [1]}),
        reply(503, {"error": "temporarily_unavailable"}),
        reply(429, {"error": "rate_limited"}),
        reply(400, {"error": "invalid_request", "error_description": "bad batch"}),
    )
    for name in profiles.NAMES:
        for r in others:
            assert not profiles.rejects_token(profiles.get(name), r), (name, r.status)


def test_the_seeds_400_is_expiry_only_for_the_2014_cloud():
    assert not profiles.rejects_token(profiles.get("oauth2"), EXPIRED["spark2014"])
    refused_grant = reply(400, {"error": "invalid_grant", "error_description": "bad code"})
    assert not profiles.rejects_token(profiles.get("spark2014"), refused_grant)


def test_a_challenge_alone_is_enough():
    bare = Response(400, {"www-authenticate": 'Bearer error="invalid_token"'}, None)
    assert profiles.rejects_token(profiles.get("oauth2"), bare)


def test_paths_are_filled_from_the_config():
    cloud = {"profile": "usergrid", "org": "acme", "app": "farm"}
    profile = profiles.for_cloud(cloud)
    assert profile["token_url"] == "/acme/farm/token"
    assert profile["readings_url"] == "/acme/farm/readings"
    assert profiles.expand_path("/oauth/token", {}) == "/oauth/token"


def test_a_clouds_own_endpoints_and_options_override_the_dialects():
    cloud = {
        "profile": "oauth2",
        "token_url": "https://auth.example/realms/farm/protocol/openid-connect/token",
        "device_authorization_url": "/realms/farm/protocol/openid-connect/auth/device",
        "readings_url": "https://api.example/v2/readings",
        "scope": "readings offline_access",
        "client_auth": "client_secret_post",
        "ack": "2xx",
    }
    profile = profiles.for_cloud(cloud)
    for key in ("token_url", "device_authorization_url", "readings_url", "scope", "ack"):
        assert profile[key] == cloud[key], key
    assert profile["client_auth"] == "client_secret_post"
    assert profile["readings_body"] == "json"  # not set: the dialect's
    defaults = profiles.for_cloud({"profile": "oauth2"})
    assert (defaults["token_url"], defaults["scope"], defaults["ack"]) == (
        "/oauth/token",
        "readings",
        "stored",
    )
    assert set(profiles.OPTIONS) <= set(defaults), "every option has a default in the table"
    for name in profiles.NAMES:
        assert set(profiles.get(name)) == set(defaults), name  # every dialect has every field
