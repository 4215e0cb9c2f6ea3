# RFC 8628 on the device, against a scripted cloud on virtual time.

from devtest import raises
from link_fakes import FakeSession, json_reply
from tempnode import device_flow, profiles, redact
from tempnode.clock import Clock
from tempnode.http import HttpError
from tempnode.redact import LinkError

HEAPSIZE = "256k"
CLOUD = {"profile": "oauth2", "client_id": "tempnode"}
DEVICE_CODE = "device-code-0123456789"
LINES = []


def started(interval=5, expires_in=600):
    return json_reply(
        200,
        {
            "device_code": DEVICE_CODE,
            "user_code": "WDJB-MJHT",
            "verification_uri": "https://localhost:8443/device",
            "verification_uri_complete": "https://localhost:8443/device?user_code=WDJB-MJHT",
            "expires_in": expires_in,
            "interval": interval,
        },
    )


def pending(error="authorization_pending"):
    return json_reply(400, {"error": error})


def run(session, clock, profile="oauth2", blink=None, secrets=None):
    redact.log = LINES.append
    return device_flow.run(
        session,
        profiles.get(profile),
        CLOUD,
        secrets or {},
        clock,
        clock.monotonic_ms() + 3600 * 1000,
        blink,
    )


def recording(clock, *steps):
    """A session that also notes the virtual time of each request."""
    times = []

    def at(step):
        def answer(*request):
            times.append(clock.monotonic_ms())
            return step

        return answer

    return FakeSession(*[at(s) for s in steps]), times


def test_prints_the_code_polls_and_returns_the_tokens():
    clock = Clock()
    blinks = []
    tokens = json_reply(
        200, {"access_token": "a" * 20, "refresh_token": "r" * 20, "expires_in": 60}
    )
    session = FakeSession(started(), pending(), pending(), tokens)
    body = run(session, clock, blink=lambda: blinks.append(1))
    assert body["refresh_token"] == "r" * 20
    assert LINES[-3] == (
        "to connect this logger, open https://localhost:8443/device and enter the code WDJB-MJHT"
    )
    assert "device flow approved" == LINES[-1]
    start, poll = session.sent[0], session.sent[1]
    assert start[1] == "/oauth/device_authorization" and b"scope=readings" in start[2]
    assert b"client_id=tempnode" in start[2]  # a public client names itself in the body
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code" in poll[2]
    assert len(blinks) >= 15  # about once a second over three 5 s waits
    assert DEVICE_CODE not in " ".join(LINES)


def test_slow_down_adds_five_seconds_for_good():
    clock = Clock()
    tokens = json_reply(200, {"access_token": "a" * 20})
    session, times = recording(
        clock, started(), pending("slow_down"), pending(), pending("slow_down"), pending(), tokens
    )
    run(session, clock)
    gaps = [(times[i + 1] - times[i]) // 1000 for i in range(len(times) - 1)]
    assert gaps == [5, 10, 10, 15, 15], gaps


def test_timeouts_back_off_the_polling_with_jitter_then_return_to_the_interval():
    for _ in range(10):
        clock = Clock()
        lost = HttpError("timeout", "reading")
        tokens = json_reply(200, {"access_token": "a" * 20})
        session, times = recording(clock, started(), lost, lost, lost, pending(), tokens)
        run(session, clock)
        gaps = [(times[i + 1] - times[i]) // 1000 for i in range(len(times) - 1)]
        assert gaps[0] == 5 and gaps[-1] == 5, gaps
        for gap, ceiling in ((gaps[1], 10), (gaps[2], 20), (gaps[3], 40)):
            assert 5 <= gap <= ceiling, gaps


def test_denied_or_expired_codes_end_the_flow_clearly():
    for error in ("access_denied", "expired_token"):
        clock = Clock()
        with raises(LinkError) as r:
            run(FakeSession(started(), pending(), pending(error)), clock)
        assert error in str(r.value) and not r.value.transient


def test_a_code_nobody_approves_runs_out_in_time():
    clock = Clock()
    session = FakeSession(started(expires_in=12), pending(), pending(), pending())
    with raises(LinkError) as r:
        run(session, clock)
    assert "expired" in str(r.value) and clock.monotonic_ms() < 13000


def test_clouds_without_a_device_flow_say_how_to_provision():
    with raises(LinkError) as r:
        run(FakeSession(), Clock(), profile="usergrid")
    assert "tempnode provision" in str(r.value)


def test_a_confidential_client_authenticates_with_basic():
    clock = Clock()
    session = FakeSession(started(), json_reply(200, {"access_token": "a" * 20}))
    run(session, clock, secrets={"client_secret": "s3cret-value"})
    assert session.sent[0][3]["Authorization"].startswith("Basic ")
    assert b"client_id" not in session.sent[0][2]


def test_an_approval_without_a_refresh_token_says_why_and_stores_nothing():
    # An OpenID Connect server issues a refresh token only for offline_access: without it the
    # credential would die with its first access token.
    import os

    from tempnode.credential_store import CredentialStore
    from tempnode.tokens import TokenManager

    clock = Clock()
    body = run(FakeSession(started(), json_reply(200, {"access_token": "a" * 20})), clock)
    cloud = dict(CLOUD, profile="oauth2")
    store = CredentialStore("credential.json")
    tokens = TokenManager(profiles.for_cloud(cloud), cloud, {}, store, clock)
    with raises(LinkError) as r:
        tokens.adopt(body)
    message = str(r.value)
    assert (
        "gave no refresh token" in message
        and 'offline_access to cloud.scope (now "readings")' in message
    )
    assert "credential.json" not in os.listdir()
    with_refresh = {"access_token": "a" * 20, "refresh_token": "r" * 20, "expires_in": 60}
    tokens.adopt(with_refresh)
    assert store.kind() == "refresh_token" and "credential.json" in os.listdir()


def test_the_configured_scope_and_endpoint_are_asked_for():
    clock = Clock()
    cloud = dict(CLOUD, profile="oauth2", scope="readings offline_access")
    cloud["device_authorization_url"] = "https://auth.example/device/auth"
    session = FakeSession(started(), json_reply(200, {"access_token": "a" * 20}))
    redact.log = LINES.append
    device_flow.run(
        session, profiles.for_cloud(cloud), cloud, {}, clock, clock.monotonic_ms() + 60000
    )
    method, target, body, headers = session.sent[0]
    assert target == "https://auth.example/device/auth", target
    assert b"scope=readings%20offline_access" in body, body
