"""The dev cloud's OAuth2 server (standard dialect) over real HTTPS with `requests`: every grant,
rotation with a grace window and reuse detection, revocation, introspection, and the RFC 6749
§5.2 / RFC 6750 §3 error replies."""

import base64

import pytest
import requests

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def web(dev_cloud):
    return dev_cloud.session()


def make_device(dev_cloud, device_id="logger-01", **options):
    return dev_cloud.admin.create_device(device_id, "oauth2", **options)


def token(dev_cloud, web, device, **form):
    return web.post(
        dev_cloud.url("/oauth/token"),
        data=form,
        auth=(device["client_id"], device["client_secret"]),
        timeout=10,
    )


def refresh(dev_cloud, web, device, refresh_token):
    return token(dev_cloud, web, device, grant_type="refresh_token", refresh_token=refresh_token)


def post_batch(dev_cloud, web, access_token, device_id="logger-01", seq=1):
    batch = {
        "device": device_id,
        "sent_mono_ms": 1000,
        "readings": [{"seq": seq, "sensor": "28ff4a1b02170345", "t": 1800000000, "c": 21.5}],
    }
    return web.post(
        dev_cloud.url("/api/v1/readings"),
        json=batch,
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )


def assert_token_reply(reply, expires_in=None):
    assert reply.status_code == 200, reply.text
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["Pragma"] == "no-cache"
    assert reply.headers["Content-Type"] == "application/json"
    body = reply.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"]
    if expires_in is not None:
        assert body["expires_in"] == expires_in
    return body


def assert_oauth_error(reply, status, error):
    assert reply.status_code == status, reply.text
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.json()["error"] == error
    return reply.json()


def advance(dev_cloud, seconds):
    """Move the cloud's clock forward (the admin clock offset)."""
    offset = dev_cloud.admin.clock()["offset_s"]
    dev_cloud.admin.set_clock_offset(offset + seconds)


def event_kinds(dev_cloud, device_id="logger-01"):
    return [e["kind"] for e in dev_cloud.admin.events(device_id)]


def test_a_provisioned_refresh_token_renews_with_rotation(dev_cloud, web):
    device = make_device(dev_cloud, access_ttl_s=120)
    first = device["credential"]
    body = assert_token_reply(refresh(dev_cloud, web, device, first["refresh_token"]), 120)
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert post_batch(dev_cloud, web, body["access_token"]).json() == {"stored": [1]}
    second = assert_token_reply(refresh(dev_cloud, web, device, body["refresh_token"]))
    assert second["refresh_token"] not in (body["refresh_token"], first["refresh_token"])
    assert event_kinds(dev_cloud)[-2:] == ["refreshed", "refreshed"]


def test_inside_the_grace_window_the_old_refresh_token_returns_the_same_pair(dev_cloud, web):
    device = make_device(dev_cloud, grace_s=30)
    old = device["credential"]["refresh_token"]
    successor = assert_token_reply(refresh(dev_cloud, web, device, old))
    advance(dev_cloud, 20)
    again = assert_token_reply(refresh(dev_cloud, web, device, old))
    assert (again["access_token"], again["refresh_token"]) == (
        successor["access_token"],
        successor["refresh_token"],
    )
    assert "replayed" in event_kinds(dev_cloud)
    # The successor is the live credential: it renews, and its access token works.
    assert post_batch(dev_cloud, web, again["access_token"]).status_code == 200
    assert_token_reply(refresh(dev_cloud, web, device, again["refresh_token"]))


def test_reuse_outside_the_grace_window_revokes_the_whole_family(dev_cloud, web):
    device = make_device(dev_cloud, grace_s=30)
    old = device["credential"]["refresh_token"]
    successor = assert_token_reply(refresh(dev_cloud, web, device, old))
    advance(dev_cloud, 31)
    body = assert_oauth_error(refresh(dev_cloud, web, device, old), 400, "invalid_grant")
    assert "access_token" not in body
    # Whoever held the successor is cut off too (RFC 9700 §4.14.2).
    assert_oauth_error(
        refresh(dev_cloud, web, device, successor["refresh_token"]), 400, "invalid_grant"
    )
    assert post_batch(dev_cloud, web, successor["access_token"]).status_code == 401
    events = dev_cloud.admin.events("logger-01")
    assert {"kind": "revoked", "reason": "reuse_detected"}.items() <= events[-4].items() or any(
        e["kind"] == "revoked" and e["reason"] == "reuse_detected" for e in events
    )
    assert [e["reason"] for e in events if e["kind"] == "rejected"][:1] == ["reused"]


def test_without_a_grace_window_any_reuse_revokes_the_family(dev_cloud, web):
    device = make_device(dev_cloud)  # grace_s defaults to 0
    old = device["credential"]["refresh_token"]
    successor = assert_token_reply(refresh(dev_cloud, web, device, old))
    assert_oauth_error(refresh(dev_cloud, web, device, old), 400, "invalid_grant")
    assert_oauth_error(
        refresh(dev_cloud, web, device, successor["refresh_token"]), 400, "invalid_grant"
    )


def test_a_dropped_reply_stores_the_rotation_and_a_prompt_retry_gets_the_same_pair(dev_cloud, web):
    device = make_device(dev_cloud, grace_s=60)
    old = device["credential"]["refresh_token"]
    dev_cloud.admin.add_fault("token", "drop_reply", count=1)
    with pytest.raises(requests.ConnectionError):
        refresh(dev_cloud, web, device, old)
    refreshed = [e for e in dev_cloud.admin.events("logger-01") if e["kind"] == "refreshed"]
    assert len(refreshed) == 1  # the server rotated although the client heard nothing
    retry = assert_token_reply(refresh(dev_cloud, web, device, old))
    assert retry["refresh_token"] != old
    assert post_batch(dev_cloud, web, retry["access_token"]).status_code == 200
    assert event_kinds(dev_cloud)[-1] != "revoked"


def test_rotation_off_keeps_the_refresh_token(dev_cloud, web):
    device = make_device(dev_cloud, rotation="off")
    old = device["credential"]["refresh_token"]
    body = assert_token_reply(refresh(dev_cloud, web, device, old))
    assert "refresh_token" not in body  # RFC 6749 §5.1: keep using the old one
    assert_token_reply(refresh(dev_cloud, web, device, old))


def test_client_credentials_give_an_access_token_only(dev_cloud, web):
    device = make_device(dev_cloud, access_ttl_s=300)
    body = assert_token_reply(token(dev_cloud, web, device, grant_type="client_credentials"), 300)
    assert "refresh_token" not in body
    assert post_batch(dev_cloud, web, body["access_token"]).status_code == 200


def test_client_secret_in_the_form_is_accepted(dev_cloud, web):
    device = make_device(dev_cloud)
    reply = web.post(
        dev_cloud.url("/oauth/token"),
        data={
            "grant_type": "client_credentials",
            "client_id": device["client_id"],
            "client_secret": device["client_secret"],
        },
    )
    assert_token_reply(reply)


def test_password_grant_on_the_host(dev_cloud, web):
    device = make_device(dev_cloud, password="correct horse")
    body = assert_token_reply(
        token(
            dev_cloud,
            web,
            device,
            grant_type="password",
            username="logger-01",
            password="correct horse",
        )
    )
    assert body["refresh_token"]
    wrong = token(
        dev_cloud, web, device, grant_type="password", username="logger-01", password="wrong"
    )
    assert_oauth_error(wrong, 400, "invalid_grant")
    rejected = dev_cloud.admin.events("logger-01", kind="rejected")[-1]
    assert (rejected["grant"], rejected["reason"], rejected["where"]) == (
        "password",
        "invalid_grant",
        "token",
    )


def test_a_wrong_client_secret_is_401_with_a_basic_challenge(dev_cloud, web):
    device = make_device(dev_cloud)
    reply = web.post(
        dev_cloud.url("/oauth/token"),
        data={"grant_type": "client_credentials"},
        auth=(device["client_id"], "not the secret"),
    )
    assert_oauth_error(reply, 401, "invalid_client")
    assert reply.headers["WWW-Authenticate"].startswith("Basic ")


def test_token_endpoint_errors_follow_rfc_6749(dev_cloud, web):
    device = make_device(dev_cloud)
    assert_oauth_error(
        token(dev_cloud, web, device, grant_type="magic"), 400, "unsupported_grant_type"
    )
    assert_oauth_error(
        token(dev_cloud, web, device, grant_type="refresh_token"), 400, "invalid_request"
    )
    assert_oauth_error(
        token(dev_cloud, web, device, grant_type="refresh_token", refresh_token="made-up"),
        400,
        "invalid_grant",
    )
    assert_oauth_error(
        token(dev_cloud, web, device, grant_type="client_credentials", scope="admin"),
        400,
        "invalid_scope",
    )
    anonymous = web.post(dev_cloud.url("/oauth/token"), data={"grant_type": "client_credentials"})
    assert_oauth_error(anonymous, 401, "invalid_client")
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")


def test_access_token_lifetime_down_to_one_second(dev_cloud, web):
    device = make_device(dev_cloud, access_ttl_s=1)
    body = assert_token_reply(
        refresh(dev_cloud, web, device, device["credential"]["refresh_token"]), 1
    )
    assert post_batch(dev_cloud, web, body["access_token"]).status_code == 200
    advance(dev_cloud, 1.5)
    expired = post_batch(dev_cloud, web, body["access_token"], seq=2)
    assert expired.status_code == 401
    assert expired.json() == {
        "error": "invalid_token",
        "error_description": "The access token expired.",
    }
    assert expired.headers["WWW-Authenticate"] == (
        'Bearer realm="tempnode", error="invalid_token", '
        'error_description="The access token expired."'
    )
    rejected = dev_cloud.admin.events("logger-01", kind="rejected")
    assert rejected[-1]["reason"] == "expired" and rejected[-1]["where"] == "api"


def test_lifetime_zero_never_expires(dev_cloud, web):
    device = make_device(dev_cloud, access_ttl_s=0)
    body = assert_token_reply(
        refresh(dev_cloud, web, device, device["credential"]["refresh_token"])
    )
    assert "expires_in" not in body
    advance(dev_cloud, 10 * 365 * 86400)
    assert post_batch(dev_cloud, web, body["access_token"]).status_code == 200


def test_refresh_token_lifetime(dev_cloud, web):
    device = make_device(dev_cloud, refresh_ttl_s=60)
    advance(dev_cloud, 61)
    reply = refresh(dev_cloud, web, device, device["credential"]["refresh_token"])
    assert_oauth_error(reply, 400, "invalid_grant")
    assert dev_cloud.admin.events("logger-01", kind="rejected")[-1]["reason"] == "expired"


def test_lifetimes_change_per_device_and_globally(dev_cloud, web):
    device = make_device(dev_cloud)
    other = make_device(dev_cloud, "logger-02")
    dev_cloud.admin.set_lifetimes(access_ttl_s=42)
    dev_cloud.admin.set_lifetimes("logger-02", access_ttl_s=7)
    assert_token_reply(token(dev_cloud, web, device, grant_type="client_credentials"), 42)
    assert_token_reply(token(dev_cloud, web, other, grant_type="client_credentials"), 7)
    dev_cloud.admin.set_lifetimes("logger-02", access_ttl_s=None)
    assert_token_reply(token(dev_cloud, web, other, grant_type="client_credentials"), 42)


def test_expire_now_and_revoke_by_the_admin(dev_cloud, web):
    device = make_device(dev_cloud)
    credential = device["credential"]
    assert dev_cloud.admin.expire("logger-01") == 1
    assert post_batch(dev_cloud, web, credential["access_token"]).status_code == 401
    renewed = assert_token_reply(refresh(dev_cloud, web, device, credential["refresh_token"]))
    # Four tokens: the first pair (its refresh token rotated, not revoked) and the new pair.
    assert dev_cloud.admin.revoke("logger-01") == 4
    assert_oauth_error(
        refresh(dev_cloud, web, device, renewed["refresh_token"]), 400, "invalid_grant"
    )
    assert post_batch(dev_cloud, web, renewed["access_token"]).status_code == 401


def test_device_flow_pending_slow_down_approved(dev_cloud, web):
    device = make_device(dev_cloud)
    start = web.post(
        dev_cloud.url("/oauth/device_authorization"), data={"client_id": device["client_id"]}
    )
    assert start.status_code == 200
    grant = start.json()
    assert grant["verification_uri"] == dev_cloud.url("/device")
    assert grant["verification_uri_complete"].endswith("user_code=" + grant["user_code"])
    assert grant["interval"] == 5 and grant["expires_in"] > 0
    poll = {
        "grant_type": DEVICE_CODE,
        "device_code": grant["device_code"],
        "client_id": device["client_id"],
    }
    assert_oauth_error(
        web.post(dev_cloud.url("/oauth/token"), data=poll), 400, "authorization_pending"
    )
    assert_oauth_error(web.post(dev_cloud.url("/oauth/token"), data=poll), 400, "slow_down")
    advance(dev_cloud, 9)  # the interval is now 10 s for good (RFC 8628 §3.5)
    assert_oauth_error(web.post(dev_cloud.url("/oauth/token"), data=poll), 400, "slow_down")
    dev_cloud.admin.approve(grant["user_code"].lower().replace("-", ""))
    body = assert_token_reply(web.post(dev_cloud.url("/oauth/token"), data=poll))
    assert body["refresh_token"]
    assert post_batch(dev_cloud, web, body["access_token"]).status_code == 200
    assert_oauth_error(web.post(dev_cloud.url("/oauth/token"), data=poll), 400, "invalid_grant")


def test_device_flow_approved_on_the_web_page(dev_cloud, web):
    device = make_device(dev_cloud, password="pw-for-page")
    grant = web.post(
        dev_cloud.url("/oauth/device_authorization"), data={"client_id": device["client_id"]}
    ).json()
    page = web.get(grant["verification_uri_complete"])
    assert page.status_code == 200 and grant["user_code"] in page.text
    form = {"user_code": grant["user_code"], "username": "logger-01", "decision": "approve"}
    wrong = web.post(dev_cloud.url("/device"), data={**form, "password": "nope"})
    assert wrong.status_code == 400 and "Wrong name or password" in wrong.text
    done = web.post(dev_cloud.url("/device"), data={**form, "password": "pw-for-page"})
    assert done.status_code == 200 and "is now connected" in done.text
    poll = {"grant_type": DEVICE_CODE, "device_code": grant["device_code"]}
    assert_token_reply(token(dev_cloud, web, device, **poll))


def test_device_flow_denied_and_expired(dev_cloud, web):
    device = make_device(dev_cloud)

    def start():
        return web.post(
            dev_cloud.url("/oauth/device_authorization"), data={"client_id": device["client_id"]}
        ).json()

    denied = start()
    dev_cloud.admin.deny(denied["user_code"])
    poll = {"grant_type": DEVICE_CODE, "client_id": device["client_id"]}
    reply = web.post(
        dev_cloud.url("/oauth/token"), data={**poll, "device_code": denied["device_code"]}
    )
    assert_oauth_error(reply, 400, "access_denied")
    late = start()
    advance(dev_cloud, late["expires_in"] + 1)
    reply = web.post(
        dev_cloud.url("/oauth/token"), data={**poll, "device_code": late["device_code"]}
    )
    assert_oauth_error(reply, 400, "expired_token")
    with pytest.raises(Exception, match="expired"):
        dev_cloud.admin.approve(late["user_code"])


def test_revocation_rfc_7009(dev_cloud, web):
    device = make_device(dev_cloud)
    credential = device["credential"]
    auth = (device["client_id"], device["client_secret"])
    reply = web.post(
        dev_cloud.url("/oauth/revoke"),
        auth=auth,
        data={"token": credential["refresh_token"], "token_type_hint": "refresh_token"},
    )
    assert reply.status_code == 200 and reply.json() == {}
    assert_oauth_error(
        refresh(dev_cloud, web, device, credential["refresh_token"]), 400, "invalid_grant"
    )
    # Revoking the refresh token ended the access token of the same grant too.
    assert post_batch(dev_cloud, web, credential["access_token"]).status_code == 401
    unknown = web.post(dev_cloud.url("/oauth/revoke"), auth=auth, data={"token": "never-issued"})
    assert unknown.status_code == 200


def test_introspection_rfc_7662(dev_cloud, web):
    device = make_device(dev_cloud, access_ttl_s=600)
    credential = device["credential"]
    auth = (device["client_id"], device["client_secret"])
    reply = web.post(
        dev_cloud.url("/oauth/introspect"), auth=auth, data={"token": credential["access_token"]}
    )
    info = reply.json()
    assert reply.status_code == 200 and info["active"] is True
    assert info["client_id"] == "logger-01" and info["sub"] == "logger-01"
    assert info["token_type"] == "Bearer" and info["exp"] - info["iat"] == 600
    dev_cloud.admin.expire("logger-01")
    after = web.post(
        dev_cloud.url("/oauth/introspect"), auth=auth, data={"token": credential["access_token"]}
    )
    assert after.json() == {"active": False}


def test_api_calls_without_or_with_a_bad_access_token(dev_cloud, web):
    make_device(dev_cloud)
    batch = {"device": "logger-01", "readings": []}
    missing = web.post(dev_cloud.url("/api/v1/readings"), json=batch)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="tempnode"'
    assert "error" not in missing.json()  # RFC 6750 §3.1: no error code without credentials
    unknown = web.post(
        dev_cloud.url("/api/v1/readings"),
        json=batch,
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_token"
    basic = base64.b64encode(b"a:b").decode()
    other_scheme = web.post(
        dev_cloud.url("/api/v1/readings"), json=batch, headers={"Authorization": "Basic " + basic}
    )
    assert other_scheme.status_code == 401


def test_metadata_names_every_endpoint(dev_cloud, web):
    meta = web.get(dev_cloud.url("/.well-known/oauth-authorization-server")).json()
    assert meta["token_endpoint"] == dev_cloud.url("/oauth/token")
    assert meta["device_authorization_endpoint"] == dev_cloud.url("/oauth/device_authorization")
    assert DEVICE_CODE in meta["grant_types_supported"]


def test_tokens_and_secrets_are_hashed_at_rest(dev_cloud, web):
    device = make_device(dev_cloud, password="a password")
    renewed = assert_token_reply(
        refresh(dev_cloud, web, device, device["credential"]["refresh_token"])
    )
    store = dev_cloud.running.cloud.store
    dump = "\n".join(store._db.iterdump())
    secrets = [
        device["client_secret"],
        "a password",
        device["credential"]["access_token"],
        device["credential"]["refresh_token"],
        renewed["access_token"],
        renewed["refresh_token"],
    ]
    assert not [s for s in secrets if s in dump]
