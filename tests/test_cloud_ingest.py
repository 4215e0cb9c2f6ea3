"""The ingest API: batches stored once per (device, seq), `mono_ms` converted with the batch's
`sent_mono_ms`, and a bad batch refused whole with a 4xx that names what is wrong."""

import json

import pytest

SENSOR = "28ff4a1b02170345"


@pytest.fixture
def device(dev_cloud):
    return dev_cloud.admin.create_device("logger-01", "oauth2")


@pytest.fixture
def post(dev_cloud, device):
    """post(batch) sends JSON; post(raw=b"...", content_type=...) sends bytes as they are."""
    web = dev_cloud.session()
    token = device["credential"]["access_token"]

    def send(batch=None, raw=None, content_type="application/json"):
        body = raw if raw is not None else json.dumps(batch, allow_nan=True).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
        return web.post(dev_cloud.url("/api/v1/readings"), data=body, headers=headers, timeout=10)

    return send


def batch(*readings, **facts):
    return {
        "device": "logger-01",
        "sent_mono_ms": 912345,
        "dropped": 0,
        "readings": list(readings),
        **facts,
    }


def reading(seq, **fields):
    return {"seq": seq, "sensor": SENSOR, "label": "tank", **({"t": 1.8e9, "c": 21.5} | fields)}


def test_a_batch_posted_twice_is_stored_once(dev_cloud, post):
    sent = batch(reading(17), reading(18, c=21.75))
    first, second = post(sent), post(sent)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"stored": [17, 18]}
    assert first.headers["Cache-Control"] == "no-store"
    stored = dev_cloud.admin.readings("logger-01")
    assert [(r["seq"], r["c"]) for r in stored] == [(17, 21.5), (18, 21.75)]


def test_an_overlapping_retry_stores_only_the_new_readings(dev_cloud, post):
    post(batch(reading(1), reading(2)))
    assert post(batch(reading(2), reading(3))).json() == {"stored": [2, 3]}
    assert [r["seq"] for r in dev_cloud.admin.readings("logger-01")] == [1, 2, 3]


def test_mono_ms_is_converted_with_sent_mono_ms(dev_cloud, post):
    # Sampled 7345 ms before the device sent the batch.
    sent = batch(
        reading(1, t=None, mono_ms=905000), reading(2, t=None, mono_ms=905000, c=None, error="crc")
    )
    assert post(sent).status_code == 200
    first, second = dev_cloud.admin.readings("logger-01")
    assert first["received_at"] - first["t"] == pytest.approx(7.345, abs=0.001)
    assert first["mono_ms"] == 905000
    assert second["error"] == "crc" and second["c"] is None


def test_a_reading_from_an_earlier_boot_keeps_its_mono_ms_without_a_time(dev_cloud, post):
    sent = batch(reading(1, t=None, mono_ms=1000, boot=3), boot=4)
    assert post(sent).status_code == 200
    (stored,) = dev_cloud.admin.readings("logger-01")
    assert stored["t"] is None and stored["mono_ms"] == 1000 and stored["boot"] == 3


@pytest.mark.parametrize(
    "bad, names",
    [
        (batch(reading(1, c="warm")), "readings[0].c"),
        (batch(reading(-1)), "readings[0].seq"),
        (batch(reading(1, c=None, error="melted")), "readings[0].error"),
        (batch(reading(1, c=None)), "readings[0] needs exactly one of c or error"),
        (batch(reading(1, t=None)), "readings[0] needs exactly one of t or mono_ms"),
        (batch(reading(1, sensor="")), "readings[0].sensor"),
        (batch(reading(1, t=None, mono_ms=5), sent_mono_ms=None), "sent_mono_ms"),
        (batch(reading(1), dropped=-3), "dropped"),
        ({**batch(reading(1)), "device": "logger-99"}, "'device' must be 'logger-01'"),
        ({"device": "logger-01", "readings": {"seq": 1}}, "'readings' must be a list"),
        (batch(reading(1), reading(2, c=float("inf"))), "not valid JSON"),
        (batch(reading(2**63)), "readings[0].seq"),
    ],
)
def test_a_bad_batch_is_refused_whole_and_says_what_is_wrong(dev_cloud, post, bad, names):
    if bad.get("sent_mono_ms", 0) is None:
        del bad["sent_mono_ms"]
    reply = post(bad)  # Python's json writes Infinity: what a buggy client might send
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"] == "invalid_request"
    assert names in reply.json()["error_description"]
    assert dev_cloud.admin.readings("logger-01") == []


def test_more_than_64_kib_is_413_and_stores_nothing(dev_cloud, post):
    huge = batch(*(reading(i, label="x" * 60) for i in range(900)))
    reply = post(huge)
    assert reply.status_code == 413
    assert "65536" in reply.json()["error_description"]
    assert dev_cloud.admin.readings("logger-01") == []


def test_a_body_that_is_not_json_is_refused(dev_cloud, post):
    form = post(raw=b"seq=1", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415
    broken = post(raw=b'{"device": "logger-01", "readings": [')
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error_description"]
    assert post(raw=b"[1, 2]").status_code == 400
    assert post(raw=b"\xff\xfe").status_code == 400
    assert dev_cloud.admin.readings("logger-01") == []


def test_the_dropped_count_is_kept(dev_cloud, post):
    post(batch(reading(1), dropped=12))
    post(batch(reading(2), dropped=5))  # an older batch arriving late never lowers it
    assert dev_cloud.admin.device("logger-01")["dropped"] == 12


def test_the_same_seq_with_other_content_is_kept_once_and_logged(dev_cloud, post):
    post(batch(reading(5, c=20.0)))
    assert post(batch(reading(5, c=30.0))).json() == {"stored": [5]}
    assert dev_cloud.admin.readings("logger-01")[0]["c"] == 20.0
    assert dev_cloud.admin.events("logger-01", kind="seq_conflict")[0]["seqs"] == [5]
