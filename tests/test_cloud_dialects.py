"""Each dialect of the dev cloud against the README's cloud wire contract: its own token request,
its own reply shape, its own expired-token reply on an API call, and its own readings path.
The expected shapes are written out here, not read from `dialects.py`, so a change to the table
that breaks the contract fails a test."""

import json

import pytest

BATCH = {
    "device": "logger-01",
    "sent_mono_ms": 5000,
    "readings": [{"seq": 7, "sensor": "28ff4a1b02170345", "label": "tank", "t": 1.8e9, "c": 4.5}],
}
CHALLENGE = "c" * 43  # Speckle compares the challenge as is; authlib wants 43-128 characters

# dialect -> (expired status, expired body, WWW-Authenticate?) from the README table.
EXPIRED = {
    "oauth2": (
        401,
        {"error": "invalid_token", "error_description": "The access token expired."},
        True,
    ),
    "particle": (
        401,
        {"error": "invalid_token", "error_description": "The access token provided is invalid."},
        True,
    ),
    "spark2014": (
        400,
        {
            "code": 400,
            "error": "invalid_grant",
            "error_description": "The access token provided has expired.",
        },
        False,
    ),
    "usergrid": (
        401,
        {
            "error": "expired_token",
            "error_description": "Unable to authenticate due to expired access token",
        },
        False,
    ),
    "speckle": (401, {"err": "Your token has expired."}, False),
}


@pytest.fixture
def web(dev_cloud):
    return dev_cloud.session()


def speckle_login(dev_cloud, web, device, challenge=CHALLENGE):
    """Speckle's app flow in a browser: log in on /authn/verify, get the access code."""
    page = dev_cloud.url(f"/authn/verify/{device['client_id']}/{challenge}")
    assert web.get(page).status_code == 200
    reply = web.post(
        page,
        data={
            "username": device["username"],
            "password": device["password"],
            "decision": "approve",
        },
        allow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    location = reply.headers["Location"]
    assert location.startswith(dev_cloud.url("/authn/done?access_code="))
    shown = web.get(location)
    assert shown.status_code == 200
    return location.split("access_code=")[1]


# dialect -> how a device of that dialect gets an access token: (method, path, kwargs) builder.
def obtain(dialect, dev_cloud, web, device):
    if dialect in ("oauth2", "particle"):
        return web.post(
            dev_cloud.url("/oauth/token"),
            auth=(device["client_id"], device["client_secret"]),
            data={"grant_type": "client_credentials"},
        )
    if dialect == "spark2014":
        return web.post(
            dev_cloud.url("/oauth/token"),
            auth=("spark", "spark"),
            data={
                "grant_type": "password",
                "username": device["username"],
                "password": device["password"],
            },
        )
    if dialect == "usergrid":
        return web.post(
            dev_cloud.url("/tempnode/sandbox/token"),
            json={
                "grant_type": "client_credentials",
                "client_id": device["client_id"],
                "client_secret": device["client_secret"],
            },
        )
    code = speckle_login(dev_cloud, web, device)
    return web.post(
        dev_cloud.url("/auth/token"),
        json={
            "appId": device["client_id"],
            "appSecret": device["client_secret"],
            "accessCode": code,
            "challenge": CHALLENGE,
        },
    )


def access_token_of(dialect, reply):
    assert reply.status_code == 200, reply.text
    assert reply.headers["Cache-Control"] == "no-store"
    body = reply.json()
    return body["token"] if dialect == "speckle" else body["access_token"]


def post_readings(dialect, dev_cloud, web, access_token, batch=BATCH):
    headers = {"Authorization": f"Bearer {access_token}"}
    if dialect in ("particle", "spark2014"):
        form = {"name": "tempnode/readings", "data": json.dumps(batch), "private": "true"}
        return web.post(dev_cloud.url("/v1/devices/events"), data=form, headers=headers)
    path = {
        "oauth2": "/api/v1/readings",
        "usergrid": "/tempnode/sandbox/readings",
        "speckle": "/api/tempnode/readings",
    }[dialect]
    return web.post(dev_cloud.url(path), json=batch, headers=headers)


@pytest.mark.parametrize("dialect", list(EXPIRED))
def test_each_dialect_gets_a_token_stores_readings_and_reports_expiry_its_way(
    dialect, dev_cloud, web
):
    device = dev_cloud.admin.create_device("logger-01", dialect, provision=False)
    access = access_token_of(dialect, obtain(dialect, dev_cloud, web, device))
    stored = post_readings(dialect, dev_cloud, web, access)
    assert stored.status_code == 200 and stored.json() == {"stored": [7]}
    assert [r["seq"] for r in dev_cloud.admin.readings("logger-01")] == [7]
    dev_cloud.admin.expire("logger-01")
    expired = post_readings(dialect, dev_cloud, web, access)
    status, body, challenge = EXPIRED[dialect]
    assert (expired.status_code, expired.json()) == (status, body)
    assert ("WWW-Authenticate" in expired.headers) == challenge
    if challenge:
        assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]


def test_particle_defaults_to_90_days_and_refreshes_with_basic_auth(dev_cloud, web):
    device = dev_cloud.admin.create_device("logger-01", "particle")
    credential = device["credential"]
    assert credential["expires_in"] == 7776000
    reply = web.post(
        dev_cloud.url("/oauth/token"),
        auth=(device["client_id"], device["client_secret"]),
        data={"grant_type": "refresh_token", "refresh_token": credential["refresh_token"]},
    )
    body = reply.json()
    assert reply.status_code == 200 and body["expires_in"] == 7776000
    assert "refresh_token" not in body  # the same refresh token stays valid


def test_particle_event_with_another_name_is_refused(dev_cloud, web):
    device = dev_cloud.admin.create_device("logger-01", "particle")
    reply = web.post(
        dev_cloud.url("/v1/devices/events"),
        data={"name": "other/event", "data": json.dumps(BATCH)},
        headers={"Authorization": f"Bearer {device['credential']['access_token']}"},
    )
    assert reply.status_code == 400 and "tempnode/readings" in reply.json()["error_description"]
    assert dev_cloud.admin.readings("logger-01") == []


def test_spark2014_a_new_password_login_invalidates_the_previous_token(dev_cloud, web):
    device = dev_cloud.admin.create_device("logger-01", "spark2014", provision=False)
    first = access_token_of("spark2014", obtain("spark2014", dev_cloud, web, device))
    second = access_token_of("spark2014", obtain("spark2014", dev_cloud, web, device))
    assert post_readings("spark2014", dev_cloud, web, second).status_code == 200
    old = post_readings("spark2014", dev_cloud, web, first)
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant"
    refresh = web.post(
        dev_cloud.url("/oauth/token"),
        auth=("spark", "spark"),
        data={"grant_type": "refresh_token", "refresh_token": "x"},
    )
    assert refresh.status_code == 400
    assert refresh.json()["code"] == 400  # the seed's error bodies carry the status code


def test_spark2014_token_is_90_days(dev_cloud, web):
    device = dev_cloud.admin.create_device("logger-01", "spark2014", provision=False)
    reply = obtain("spark2014", dev_cloud, web, device)
    assert reply.json()["expires_in"] == 7776000 and "refresh_token" not in reply.json()


def usergrid_token(dev_cloud, web, device, **extra):
    body = {
        "grant_type": "client_credentials",
        "client_id": device["client_id"],
        "client_secret": device["client_secret"],
        **extra,
    }
    return web.post(dev_cloud.url("/tempnode/sandbox/token"), json=body)


def test_usergrid_ttl_is_in_milliseconds_up_to_the_app_maximum(dev_cloud, web):
    device = dev_cloud.admin.create_device("logger-01", "usergrid", provision=False)
    reply = usergrid_token(dev_cloud, web, device, ttl=60000)
    assert reply.status_code == 200 and reply.json()["expires_in"] == 60  # seconds
    assert usergrid_token(dev_cloud, web, device).json()["expires_in"] == 604800  # 7 days
    too_long = usergrid_token(dev_cloud, web, device, ttl=604800001)
    assert too_long.status_code == 400
    assert "604800000" in too_long.json()["error_description"]


def test_usergrid_ttl_zero_never_expires(dev_cloud, web):
    device = dev_cloud.admin.create_device("logger-01", "usergrid", provision=False)
    body = usergrid_token(dev_cloud, web, device, ttl=0).json()
    assert "expires_in" not in body
    dev_cloud.admin.set_clock_offset(10 * 365 * 86400)
    assert post_readings("usergrid", dev_cloud, web, body["access_token"]).status_code == 200


def test_usergrid_password_grant_and_other_app(dev_cloud, web):
    device = dev_cloud.admin.create_device("logger-01", "usergrid", provision=False)
    reply = web.post(
        dev_cloud.url("/tempnode/sandbox/token"),
        json={
            "grant_type": "password",
            "username": "logger-01",
            "password": device["password"],
            "client_id": device["client_id"],
            "client_secret": device["client_secret"],
        },
    )
    assert reply.status_code == 200
    other_app = web.post(
        dev_cloud.url("/tempnode/other/token"),
        json={
            "grant_type": "client_credentials",
            "client_id": device["client_id"],
            "client_secret": device["client_secret"],
        },
    )
    assert other_app.status_code == 400 and other_app.json()["error"] == "invalid_grant"
    wrong_place = web.post(
        dev_cloud.url("/tempnode/other/readings"),
        json=BATCH,
        headers={"Authorization": "Bearer " + reply.json()["access_token"]},
    )
    assert wrong_place.status_code == 401


def test_speckle_refresh_is_json_and_keeps_the_old_refresh_token_valid(dev_cloud, web):
    device = dev_cloud.admin.create_device("logger-01", "speckle", provision=False)
    first = obtain("speckle", dev_cloud, web, device).json()
    assert set(first) == {"token", "refreshToken"}  # no expires_in
    body = {
        "appId": device["client_id"],
        "appSecret": device["client_secret"],
        "refreshToken": first["refreshToken"],
    }
    second = web.post(dev_cloud.url("/auth/token"), json=body)
    assert second.status_code == 200 and set(second.json()) == {"token", "refreshToken"}
    assert second.json()["refreshToken"] != first["refreshToken"]
    again = web.post(dev_cloud.url("/auth/token"), json=body)
    assert again.status_code == 200  # Speckle does not revoke the old refresh token


def test_speckle_errors_are_err_bodies(dev_cloud, web):
    device = dev_cloud.admin.create_device("logger-01", "speckle", provision=False)
    code = speckle_login(dev_cloud, web, device)
    wrong = web.post(
        dev_cloud.url("/auth/token"),
        json={
            "appId": device["client_id"],
            "appSecret": device["client_secret"],
            "accessCode": code,
            "challenge": "d" * 43,
        },
    )
    assert wrong.status_code == 400 and wrong.json() == {"err": "Code challenge failed."}
    neither = web.post(
        dev_cloud.url("/auth/token"),
        json={"appId": device["client_id"], "appSecret": device["client_secret"]},
    )
    assert neither.status_code == 400 and "refreshToken or accessCode" in neither.json()["err"]
    used = web.post(
        dev_cloud.url("/auth/token"),
        json={
            "appId": device["client_id"],
            "appSecret": "wrong",
            "accessCode": code,
            "challenge": CHALLENGE,
        },
    )
    assert used.status_code in (400, 401) and set(used.json()) == {"err"}


def test_speckle_login_page_refuses_a_wrong_password(dev_cloud, web):
    device = dev_cloud.admin.create_device("logger-01", "speckle", provision=False)
    page = dev_cloud.url(f"/authn/verify/{device['client_id']}/{CHALLENGE}")
    reply = web.post(
        page,
        data={"username": "logger-01", "password": "no", "decision": "approve"},
        allow_redirects=False,
    )
    assert reply.status_code == 400 and "Wrong name or password" in reply.text
    denied = web.post(
        page,
        data={"username": "logger-01", "password": device["password"], "decision": "deny"},
        allow_redirects=False,
    )
    assert denied.status_code == 303 and "error=access_denied" in denied.headers["Location"]
