# Uploads under MicroPython against a scripted cloud: request shapes, acks, one renewal + retry.
import json

from devtest import raises
from link_fakes import FakeSession, json_reply
from tempnode import profiles, redact
from tempnode.clock import Clock
from tempnode.credential_store import CredentialStore
from tempnode.http import Response
from tempnode.redact import LinkError
from tempnode.tokens import TokenManager
from tempnode.uploader import Uploader

HEAPSIZE = "512k"
A1, A2 = "access-1-abcdefghij", "access-2-abcdefghij"
READINGS = [
    {"seq": 17, "sensor": "28ff4a1b02170345", "label": "tank", "t": 1800000000, "c": 21.5},
    {"seq": 18, "sensor": "28ff4a1b02170345", "label": "tank", "mono_ms": 905000, "error": "crc"},
    {"seq": 19, "sensor": "28aa00000000001f", "label": "roof", "t": 1800000060, "c": -3.25},
]
CLOUD = {"client_id": "tempnode", "org": "acme", "app": "farm"}


def uploader(profile="oauth2"):
    with open("credential.json", "w") as f:
        f.write(
            json.dumps(
                {"kind": "refresh_token", "refresh_token": "refresh-abcdefgh", "access_token": A1}
            )
        )
    redact.log = lambda line: None
    clock = Clock()
    cloud = dict(CLOUD, profile=profile)
    store = CredentialStore("credential.json")
    dialect = profiles.for_cloud(cloud)
    tokens = TokenManager(dialect, cloud, {}, store, clock)
    return Uploader(dialect, "logger-01", tokens, clock), clock


def stored(seqs):
    return json_reply(200, {"stored": seqs})


def expired():
    return json_reply(
        401, {"error": "invalid_token"}, {"www-authenticate": 'Bearer error="invalid_token"'}
    )


def renewed(access):
    return json_reply(200, {"access_token": access, "expires_in": 3600})


def decode_form(body):
    import binascii

    pairs = {}
    for pair in body.decode().split("&"):
        name, value = pair.split("=", 1)
        raw = bytearray()
        i = 0
        while i < len(value):
            if value[i] == "%":
                raw.extend(binascii.unhexlify(value[i + 1 : i + 3]))
                i += 3
            else:
                raw.extend(value[i].encode())
                i += 1
        pairs[name] = bytes(raw).decode()
    return pairs


def test_a_json_batch_goes_to_the_ingest_path_with_the_bearer_token():
    up, clock = uploader("usergrid")
    session = FakeSession(stored([17, 18, 19]))
    assert up.post(session, READINGS, 4, clock.monotonic_ms() + 5000) == [17, 18, 19]
    method, path, body, headers = session.sent[0]
    assert (method, path) == ("POST", "/acme/farm/readings")
    assert headers["Authorization"] == "Bearer " + A1
    assert headers["Content-Type"] == "application/json"
    batch = json.loads(body)
    assert batch["device"] == "logger-01" and batch["dropped"] == 4
    assert batch["readings"] == READINGS and isinstance(batch["sent_mono_ms"], int)


def test_only_seqs_of_this_batch_that_the_cloud_stored_are_confirmed():
    up, clock = uploader()
    session = FakeSession(stored([19, 17, 99]))
    assert up.post(session, READINGS, 0, clock.monotonic_ms() + 5000) == [19, 17]


def test_particle_gets_an_event_form_and_a_bare_success_confirms_the_batch():
    up, clock = uploader("particle")
    session = FakeSession(json_reply(200, {"ok": True}))
    assert up.post(session, READINGS, 0, clock.monotonic_ms() + 5000) == [17, 18, 19]
    _, path, body, headers = session.sent[0]
    assert path == "/v1/devices/events"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    event = decode_form(body)
    assert event["name"] == "tempnode/readings" and event["private"] == "true"
    assert json.loads(event["data"])["readings"] == READINGS


def test_a_cloud_that_must_list_stored_seqs_but_does_not_confirms_nothing():
    up, clock = uploader()
    with raises(LinkError):
        up.post(
            FakeSession(json_reply(200, {"ok": True})), READINGS, 0, clock.monotonic_ms() + 5000
        )


def test_an_expired_token_is_renewed_once_and_the_batch_resent_with_a_fresh_send_time():
    up, clock = uploader()

    def later(*request):
        clock.sleep_ms(700)  # the renewal takes a while
        return renewed(A2)

    session = FakeSession(expired(), later, stored([17, 18, 19]))
    assert up.post(session, READINGS, 0, clock.monotonic_ms() + 5000) == [17, 18, 19]
    first, renewal, retry = session.sent
    assert renewal[1] == "/oauth/token" and retry[3]["Authorization"] == "Bearer " + A2
    assert json.loads(retry[2])["sent_mono_ms"] >= json.loads(first[2])["sent_mono_ms"] + 700


def test_a_second_rejection_is_an_error_not_a_loop():
    up, clock = uploader()
    session = FakeSession(expired(), renewed(A2), expired())
    with raises(LinkError) as r:
        up.post(session, READINGS, 0, clock.monotonic_ms() + 5000)
    assert r.value.outcome == "refused" and "401" in str(r.value) and len(session.sent) == 3


def test_insufficient_scope_never_triggers_a_renewal():
    up, clock = uploader()
    scope = Response(403, {"www-authenticate": 'Bearer error="insufficient_scope"'}, None)
    session = FakeSession(scope)
    with raises(LinkError) as r:
        up.post(session, READINGS, 0, clock.monotonic_ms() + 5000)
    assert not r.value.transient and "403" in str(r.value) and len(session.sent) == 1


def test_busy_replies_are_transient_and_carry_retry_after():
    up, clock = uploader()
    session = FakeSession(json_reply(429, {"error": "rate_limited"}, {"retry-after": "120"}))
    with raises(LinkError) as r:
        up.post(session, READINGS, 0, clock.monotonic_ms() + 5000)
    assert r.value.transient and r.value.retry_after_ms == 120000


def test_a_batch_over_64_kib_is_refused_before_anything_is_sent():
    up, clock = uploader()
    many = [dict(READINGS[0], seq=n, label="x" * 200) for n in range(300)]
    session = FakeSession()
    with raises(LinkError) as r:
        up.post(session, many, 0, clock.monotonic_ms() + 5000)
    assert "send fewer" in str(r.value) and not r.value.transient
    assert session.sent == [] or session.sent[0][1] == "/oauth/token"
