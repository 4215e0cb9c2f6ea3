# The token manager under MicroPython, against a scripted cloud, on virtual time.
import json
import time

from devtest import raises
from link_fakes import FakeSession, json_reply
from tempnode import profiles, redact
from tempnode.clock import Clock
from tempnode.credential_store import CredentialStore
from tempnode.http import HttpError, Response
from tempnode.redact import LinkError
from tempnode.tokens import TokenManager

HEAPSIZE = "256k"
MIN = 60 * 1000
CLOUD = {"client_id": "tempnode", "org": "acme", "app": "farm", "app_id": "app-1"}
SECRETS = {"client_secret": "client-secret-xyz", "app_secret": "app-secret-xyz"}
R1, R2, R9 = "refresh-1-abcdefgh", "refresh-2-abcdefgh", "refresh-9-abcdefgh"
A1, A2, A3 = "access-1-abcdefghij", "access-2-abcdefghij", "access-3-abcdefghij"
LINES = []


def manager(profile="oauth2", credential=None, fraction=0.75):
    if credential is not False:
        save(credential or {"kind": "refresh_token", "refresh_token": R1})
    redact.log = LINES.append
    clock = Clock()
    cloud = dict(CLOUD, profile=profile)
    store = CredentialStore("credential.json")
    return TokenManager(profiles.for_cloud(cloud), cloud, SECRETS, store, clock, fraction), clock


def save(obj):
    with open("credential.json", "w") as f:
        f.write(json.dumps(obj))


def on_flash():
    with open("credential.json") as f:
        return json.loads(f.read())


def granted(access, refresh=None, expires_in=None):
    body = {"access_token": access, "token_type": "Bearer"}
    if refresh:
        body["refresh_token"] = refresh
    if expires_in is not None:
        body["expires_in"] = expires_in
    return json_reply(200, body)


def refused(error="invalid_grant", status=400):
    return json_reply(status, {"error": error})


def form(body):
    return dict(pair.split("=", 1) for pair in body.decode().split("&"))


def soon(clock):
    return clock.monotonic_ms() + 10000


def test_the_oauth2_refresh_request_is_form_encoded_with_basic_client_auth():
    tm, clock = manager()
    session = FakeSession(granted(A1, R2, 3600))
    assert tm.token(session, soon(clock)) == A1
    method, path, body, headers = session.sent[0]
    assert (method, path) == ("POST", "/oauth/token")
    assert form(body) == {"grant_type": "refresh_token", "refresh_token": R1}
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["Authorization"] == "Basic dGVtcG5vZGU6Y2xpZW50LXNlY3JldC14eXo="
    assert on_flash()["refresh_token"] == R2 and on_flash()["access_token"] == A1
    line = LINES[-1]  # renewal after 75 % of the hour, less up to 6 min of jitter
    assert line.startswith("token renewed (next renewal in ") and line.endswith(" min)"), line
    assert 39 <= int(line.split()[-2]) <= 45, line


def test_each_dialect_asks_for_a_token_in_its_own_shape():
    usergrid, clock = manager(
        "usergrid", {"kind": "client_credentials", "client_id": "dev-1", "client_secret": R9}
    )
    session = FakeSession(granted(A1, None, 604800))
    usergrid.token(session, soon(clock))
    _, path, body, headers = session.sent[0]
    assert path == "/acme/farm/token" and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "grant_type": "client_credentials",
        "client_id": "dev-1",
        "client_secret": R9,
    }
    assert "Authorization" not in headers

    speckle, clock = manager("speckle")
    session = FakeSession(json_reply(200, {"token": A1, "refreshToken": R2}))
    assert speckle.token(session, soon(clock)) == A1
    _, path, body, _ = session.sent[0]
    assert path == "/auth/token"
    assert json.loads(body) == {
        "appId": "app-1",
        "appSecret": "app-secret-xyz",
        "refreshToken": R1,
    }
    assert on_flash()["refresh_token"] == R2

    oauth2, clock = manager(
        "oauth2", {"kind": "client_credentials", "client_id": "dev-1", "client_secret": R9}
    )
    session = FakeSession(granted(A1, None, 60))
    oauth2.token(session, soon(clock))
    _, _, body, headers = session.sent[0]
    assert form(body) == {"grant_type": "client_credentials"}
    assert headers["Authorization"].startswith("Basic ")


def test_a_missing_secret_is_named_not_sent():
    tm, clock = manager("speckle")
    tm.secrets = {}
    with raises(LinkError) as r:
        tm.token(FakeSession(), soon(clock))
    assert "secrets.app_secret" in str(r.value) and not r.value.transient


def test_renewal_follows_the_monotonic_clock_whatever_the_rtc_says():
    tm, clock = manager(fraction=0.75)
    session = FakeSession(granted(A1, R2, 600), granted(A2, R9, 600))
    tm.token(session, soon(clock))
    due_in = tm.status()["renewal_in_s"]
    assert 390 <= due_in <= 450, due_in  # 75 % of 10 min, minus up to 10 % jitter
    time.set_rtc(946684800)  # the RTC jumps back to 2000-01-01
    clock.sleep_ms((due_in - 5) * 1000)
    assert tm.token(session, soon(clock)) == A1 and len(session.sent) == 1
    time.set_rtc(time.time() + 365 * 86400)  # and a year ahead
    clock.sleep_ms(6000)
    assert tm.token(session, soon(clock)) == A2 and len(session.sent) == 2


def test_the_jitter_spreads_renewals_and_never_comes_after_the_fraction():
    seen = set()
    for _ in range(30):
        tm, clock = manager(fraction=0.8)
        tm.token(FakeSession(granted(A1, None, 1000)), soon(clock))
        seen.add(tm.status()["renewal_in_s"])
    assert min(seen) >= 700 and max(seen) <= 800 and len(seen) > 5, seen


def test_a_rejected_token_is_renewed_once_however_many_calls_report_it():
    tm, clock = manager()
    session = FakeSession(granted(A1, R2, 3600), granted(A2, R9, 3600))
    token = tm.token(session, soon(clock))
    tm.rejected(session, token, soon(clock))
    tm.rejected(session, token, soon(clock))  # a second report of the same old token
    assert tm.token(session, soon(clock)) == A2
    assert len(session.sent) == 2 and form(session.sent[1][2])["refresh_token"] == R2


def test_a_lost_reply_presents_the_same_refresh_token_once_more_at_once():
    tm, clock = manager()
    session = FakeSession(HttpError("timeout", "reading"), granted(A1, R2))
    assert tm.token(session, soon(clock)) == A1
    assert [form(s[2])["refresh_token"] for s in session.sent] == [R1, R1]
    assert on_flash()["refresh_token"] == R2 and on_flash()["refreshing"] is False


def test_an_unreadable_success_counts_as_lost_and_the_same_token_goes_again():
    tm, clock = manager()
    garbled = Response(200, {}, None)  # the body was not a JSON object
    session = FakeSession(garbled, granted(A1, R2, 60))
    assert tm.token(session, soon(clock)) == A1
    assert [form(s[2])["refresh_token"] for s in session.sent] == [R1, R1]


def test_after_two_lost_replies_the_marker_stays_and_the_same_token_goes_later():
    tm, clock = manager()
    lost = HttpError("closed", "no reply")
    session = FakeSession(lost, lost, granted(A1, R2, 60))
    with raises(LinkError) as r:
        tm.token(session, soon(clock))
    assert r.value.transient and on_flash()["refreshing"] is True and len(session.sent) == 2
    rebooted, clock = manager(credential=False)  # a reboot: same file
    assert rebooted.token(session, soon(clock)) == A1
    assert form(session.sent[-1][2])["refresh_token"] == R1


def test_nothing_is_presented_twice_when_nothing_was_sent():
    for kind in ("dns", "connect", "tls", "deadline"):
        tm, clock = manager()
        session = FakeSession(HttpError(kind, "x"), granted(A1, R2, 60))
        with raises(HttpError):
            tm.token(session, soon(clock))
        assert len(session.sent) == 1, kind


def test_a_marker_found_at_boot_renews_before_the_stored_access_token_is_used():
    tm, clock = manager(
        credential={
            "kind": "refresh_token",
            "refresh_token": R1,
            "access_token": A1,
            "refreshing": True,
        }
    )
    session = FakeSession(granted(A2, R2, 60))
    assert tm.token(session, soon(clock)) == A2
    assert form(session.sent[0][2])["refresh_token"] == R1


def test_invalid_grant_rereads_the_store_before_giving_up():
    tm, clock = manager()

    def other_boot_stored_a_newer_token(*request):
        save({"kind": "refresh_token", "refresh_token": R9})
        return refused("invalid_grant")

    session = FakeSession(other_boot_stored_a_newer_token, granted(A1, R2, 60))
    assert tm.token(session, soon(clock)) == A1
    assert [form(s[2])["refresh_token"] for s in session.sent] == [R1, R9]


def test_a_refused_credential_means_needs_provisioning_and_a_slow_rate_afterwards():
    tm, clock = manager()
    session = FakeSession(refused("invalid_grant"), refused("invalid_grant"), granted(A1, R2))
    with raises(LinkError) as r:
        tm.token(session, soon(clock))
    assert r.value.outcome == "credential_refused"
    assert LINES[-1] == (
        "NEEDS PROVISIONING: the cloud rejected the stored refresh token (invalid_grant); "
        "readings are kept; run tempnode.provision()"
    ), LINES[-1]
    assert on_flash()["needs_provisioning"] and on_flash()["refresh_token"] == R1
    with raises(LinkError) as r:
        tm.token(session, soon(clock))  # uploads stop at once: no request
    assert r.value.outcome == "credential_refused" and len(session.sent) == 1
    for _ in range(14):
        clock.sleep_ms(MIN)
        assert not tm.recover(session, soon(clock))
    assert len(session.sent) == 1  # nothing for the first 14 minutes
    clock.sleep_ms(6 * 3600 * 1000)
    assert not tm.recover(session, soon(clock))
    assert not tm.recover(session, soon(clock))
    assert len(session.sent) == 2  # one slow attempt, not two
    rebooted, clock = manager(credential=False)
    assert not rebooted.recover(session, soon(clock))  # a reboot brings no attempt forward
    assert len(session.sent) == 2


def test_the_slow_retry_heals_a_refusal_that_was_the_clouds_mistake():
    tm, clock = manager()
    session = FakeSession(refused("invalid_grant"), granted(A1, R2, 60))
    with raises(LinkError):
        tm.token(session, soon(clock))
    clock.sleep_ms(6 * 3600 * 1000)
    assert tm.recover(session, soon(clock))
    assert tm.token(session, soon(clock)) == A1 and on_flash()["needs_provisioning"] is None
    assert "the cloud accepts the stored refresh token again" in LINES


def test_only_an_explicit_oauth_error_refuses_a_credential():
    # A captive portal's redirect, a proxy's 401 page, a 404 and a malformed request: each a
    # failure of this request, never a refusal of the credential.
    portal = Response(302, {"location": "http://portal.example/login"}, None)
    replies = (portal, Response(401, {}, None), Response(404, {}, {}), refused("invalid_request"))
    for reply in replies:
        tm, clock = manager()
        with raises(LinkError) as r:
            tm.token(FakeSession(reply), soon(clock))
        assert r.value.outcome == "refused", (reply.status, r.value.outcome)
        assert on_flash().get("needs_provisioning") is None
        if reply is portal:
            assert "HTTP 302 to http://portal.example/login" in str(r.value), r.value


def test_a_new_credential_from_the_host_tools_ends_needs_provisioning():
    tm, clock = manager()
    session = FakeSession(refused("invalid_grant"), granted(A1, R2, 60))
    with raises(LinkError):
        tm.token(session, soon(clock))
    save({"kind": "refresh_token", "refresh_token": R9})
    assert tm.recover(session, soon(clock))
    assert tm.token(session, soon(clock)) == A1
    assert form(session.sent[-1][2])["refresh_token"] == R9
    assert "new credential found in credential.json" in LINES
    assert tm.status()["needs_provisioning"] is None


def test_busy_replies_are_transient_with_the_clouds_retry_after():
    tm, clock = manager()
    busy = json_reply(503, {"error": "temporarily_unavailable"}, {"retry-after": "30"})
    with raises(LinkError) as r:
        tm.token(FakeSession(busy), soon(clock))
    assert r.value.outcome == "transient" and r.value.retry_after_ms == 30000


def test_a_failed_early_renewal_keeps_the_current_token_until_it_expires():
    tm, clock = manager()
    busy = json_reply(503, {"error": "temporarily_unavailable"})
    session = FakeSession(granted(A1, R2, 600), busy, granted(A2, R9, 600))
    assert tm.token(session, soon(clock)) == A1
    clock.sleep_ms(tm.status()["renewal_in_s"] * 1000)
    assert tm.token(session, soon(clock)) == A1  # the early renewal failed: A1 still serves
    assert len(session.sent) == 2 and "stays in use" in LINES[-1], LINES[-1]
    assert tm._early.failures == 1  # the next early try follows the backoff policy
    clock.sleep_ms(tm.status()["retry_in_s"] * 1000 + 1)
    assert tm.token(session, soon(clock)) == A2 and len(session.sent) == 3


def test_an_expired_token_is_never_used_while_its_renewal_fails():
    tm, clock = manager()
    busy = json_reply(503, {"error": "temporarily_unavailable"})
    session = FakeSession(granted(A1, R2, 60), busy)
    tm.token(session, soon(clock))
    clock.sleep_ms(60000)
    with raises(LinkError):
        tm.token(session, soon(clock))


def test_renewal_leaves_a_margin_for_lifetimes_rounded_down_to_the_second():
    # A "2 s" token from a server that rounds exp down lives 1 to 2 s: renew within 1 s.
    for _ in range(20):
        tm, clock = manager()
        tm.token(FakeSession(granted(A1, R2, 2)), soon(clock))
        assert tm.status()["renewal_in_s"] <= 1
        assert tm._renew_at_ms - clock.monotonic_ms() <= 750, tm._renew_at_ms
        assert tm._expires_at_ms - clock.monotonic_ms() <= 1000


def test_a_tokens_age_survives_a_reset_when_the_wall_time_is_known():
    tm, clock = manager()
    clock.set_wall_time(1800000000, "http-date")
    tm.token(FakeSession(granted(A1, R2, 3600)), soon(clock))
    assert on_flash()["issued_at"] == 1800000000
    rebooted, clock = manager(credential=False)
    clock.set_wall_time(1800000000 + 3000, "rtc")  # the RTC ran on: 50 min later
    session = FakeSession(granted(A2, R9, 3600))
    assert rebooted.token(session, soon(clock)) == A2  # past 75 %: renewed before use
    rebooted, clock = manager(credential=False)  # a power cut: the time is unknown
    assert rebooted.token(FakeSession(), soon(clock)) == A2  # used until rejected


def test_an_access_token_only_credential_needs_provisioning_once_rejected():
    tm, clock = manager("spark2014", {"kind": "access_token", "access_token": A1})
    session = FakeSession()
    assert tm.token(session, soon(clock)) == A1
    with raises(LinkError) as r:
        tm.rejected(session, A1, soon(clock))
    assert not r.value.transient and session.sent == []
    assert "NEEDS PROVISIONING: the cloud rejected the stored access token" in LINES[-1]
    assert "tempnode provision" in LINES[-1]


def test_without_a_lifetime_the_token_is_used_until_rejected():
    tm, clock = manager("speckle")
    session = FakeSession(json_reply(200, {"token": A1, "refreshToken": R2}))
    tm.token(session, soon(clock))
    assert tm.status()["renewal_in_s"] is None
    clock.sleep_ms(30 * 86400 * 1000)
    assert tm.token(session, soon(clock)) == A1 and len(session.sent) == 1


def test_status_tells_the_state_without_a_secret():
    tm, clock = manager()
    tm.token(FakeSession(granted(A1, R2, 3600)), soon(clock))
    status = tm.status()
    assert status["access_token"] == "valid" and status["renewals"] == 1
    assert status["credential"] == "refresh_token" and not status["refresh_pending"]
    text = repr(status)
    for secret in (A1, R1, R2, SECRETS["client_secret"]):
        assert secret not in text, text


def test_client_authentication_follows_the_configured_method():
    methods = {
        "client_secret_basic": ({"grant_type", "refresh_token"}, True),
        "client_secret_post": (
            {"grant_type", "refresh_token", "client_id", "client_secret"},
            False,
        ),
        "none": ({"grant_type", "refresh_token", "client_id"}, False),
    }
    for method, (fields, basic) in methods.items():
        save({"kind": "refresh_token", "refresh_token": R1})
        cloud = dict(CLOUD, profile="oauth2", client_auth=method)
        cloud["token_url"] = "https://auth.example/o/token/"
        store = CredentialStore("credential.json")
        clock = Clock()
        tm = TokenManager(profiles.for_cloud(cloud), cloud, SECRETS, store, clock)
        session = FakeSession(granted(A1, R2, 60))
        tm.token(session, soon(clock))
        _, target, body, headers = session.sent[0]
        assert target == "https://auth.example/o/token/", target
        assert set(form(body)) == fields, (method, form(body))
        assert ("Authorization" in headers) == basic, method
        if method == "client_secret_post":
            assert form(body)["client_secret"] == "client-secret-xyz"
