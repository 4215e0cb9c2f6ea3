"""Faults on demand, each for the next N requests or a time window, per endpoint: what the client
sees on the wire, and whether the server processed the request anyway."""

import http.client
import ssl
import time
from email.utils import parsedate_to_datetime

import pytest
import requests

SENSOR = "28ff4a1b02170345"


@pytest.fixture
def device(dev_cloud):
    return dev_cloud.admin.create_device("logger-01", "oauth2")


def post_batch(dev_cloud, device, seq=1, web=None):
    web = web or dev_cloud.session()
    batch = {
        "device": "logger-01",
        "readings": [{"seq": seq, "sensor": SENSOR, "t": 1.8e9, "c": 20.0}],
    }
    return web.post(
        dev_cloud.url("/api/v1/readings"),
        json=batch,
        timeout=10,
        headers={"Authorization": f"Bearer {device['credential']['access_token']}"},
    )


def client_credentials(dev_cloud, device):
    return dev_cloud.session().post(
        dev_cloud.url("/oauth/token"),
        data={"grant_type": "client_credentials"},
        auth=(device["client_id"], device["client_secret"]),
        timeout=10,
    )


def stored_seqs(dev_cloud):
    return [r["seq"] for r in dev_cloud.admin.readings("logger-01")]


def raw_post(dev_cloud, device, seq):
    """The same ingest request on a bare http.client connection, to see the bytes as sent."""
    context = ssl.create_default_context(cafile=str(dev_cloud.ca_pem_path))
    host, port = dev_cloud.base_url.removeprefix("https://").split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    body = '{"device":"logger-01","readings":[{"seq":%d,"sensor":"%s","t":1.8e9,"c":20.0}]}' % (
        seq,
        SENSOR,
    )
    conn.request(
        "POST",
        "/api/v1/readings",
        body,
        {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {device['credential']['access_token']}",
        },
    )
    return conn, conn.getresponse()


def test_status_fault_for_the_next_n_requests_then_normal(dev_cloud, device):
    dev_cloud.admin.add_fault("ingest", "status", count=2, status=503)
    replies = [post_batch(dev_cloud, device, seq) for seq in (1, 2, 3)]
    assert [r.status_code for r in replies] == [503, 503, 200]
    assert replies[0].json() == {"error": "temporarily_unavailable"}
    assert stored_seqs(dev_cloud) == [3]  # a refused request changes nothing


def test_a_fault_hits_only_its_endpoint(dev_cloud, device):
    dev_cloud.admin.add_fault("token", "status", count=1, status=500)
    assert post_batch(dev_cloud, device).status_code == 200
    reply = client_credentials(dev_cloud, device)
    assert reply.status_code == 500 and reply.json() == {"error": "server_error"}
    assert client_credentials(dev_cloud, device).status_code == 200


def test_rate_limit_with_retry_after_seconds(dev_cloud, device):
    dev_cloud.admin.add_fault("token", "rate_limit", count=1, retry_after_s=120)
    reply = client_credentials(dev_cloud, device)
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "120"


def test_rate_limit_with_retry_after_as_an_http_date(dev_cloud, device):
    dev_cloud.admin.set_clock_offset(3600)  # the date follows the cloud's clock
    dev_cloud.admin.add_fault(
        "any", "rate_limit", count=1, retry_after_s=90, retry_after_form="date"
    )
    reply = post_batch(dev_cloud, device)
    assert reply.status_code == 429
    retry_at = parsedate_to_datetime(reply.headers["Retry-After"]).timestamp()
    now = parsedate_to_datetime(reply.headers["Date"]).timestamp()
    assert retry_at - now == pytest.approx(90, abs=1)
    assert now - time.time() == pytest.approx(3600, abs=5)


def test_latency(dev_cloud, device):
    dev_cloud.admin.add_fault("ingest", "latency", count=1, delay_ms=400)
    started = time.monotonic()
    assert post_batch(dev_cloud, device).status_code == 200
    assert time.monotonic() - started >= 0.4
    assert stored_seqs(dev_cloud) == [1]


def test_reset_before_the_reply_processes_nothing(dev_cloud, device):
    dev_cloud.admin.add_fault("ingest", "reset", count=1)
    with pytest.raises(requests.ConnectionError):
        post_batch(dev_cloud, device)
    assert stored_seqs(dev_cloud) == []


def test_drop_reply_processes_the_request_then_closes(dev_cloud, device):
    dev_cloud.admin.add_fault("ingest", "drop_reply", count=1)
    with pytest.raises(requests.ConnectionError):
        post_batch(dev_cloud, device, seq=9)
    assert stored_seqs(dev_cloud) == [9]
    assert post_batch(dev_cloud, device, seq=9).json() == {"stored": [9]}  # the retry


def test_truncated_reply_after_processing(dev_cloud, device):
    dev_cloud.admin.add_fault("ingest", "truncate", count=1)
    conn, reply = raw_post(dev_cloud, device, 4)
    assert reply.status == 200
    with pytest.raises(http.client.IncompleteRead):
        reply.read()
    conn.close()
    assert stored_seqs(dev_cloud) == [4]


def test_malformed_json_reply_after_processing(dev_cloud, device):
    dev_cloud.admin.add_fault("ingest", "malformed", count=1)
    reply = post_batch(dev_cloud, device, seq=5)
    assert reply.status_code == 200
    with pytest.raises(ValueError):
        reply.json()
    assert stored_seqs(dev_cloud) == [5]


def test_huge_body(dev_cloud, device):
    dev_cloud.admin.add_fault("token", "huge_body", count=1)
    reply = dev_cloud.session().post(
        dev_cloud.url("/oauth/token"),
        data={"grant_type": "client_credentials"},
        auth=(device["client_id"], device["client_secret"]),
        stream=True,
        timeout=10,
    )
    assert reply.status_code == 200
    assert int(reply.headers["Content-Length"]) == 10 * 1024 * 1024
    assert sum(len(chunk) for chunk in reply.iter_content(1 << 20)) == 10 * 1024 * 1024


def test_a_time_window_follows_the_cloud_clock(dev_cloud, device):
    dev_cloud.admin.add_fault("ingest", "status", for_s=600)
    assert post_batch(dev_cloud, device, 1).status_code == 503
    assert post_batch(dev_cloud, device, 2).status_code == 503
    dev_cloud.admin.set_clock_offset(601)  # ten minutes of outage pass in an instant
    assert post_batch(dev_cloud, device, 3).status_code == 200
    assert dev_cloud.admin.faults() == []


def test_a_window_that_starts_later(dev_cloud, device):
    now = dev_cloud.admin.clock()["now"]
    dev_cloud.admin.add_fault("ingest", "status", **{"from": now + 100, "until": now + 200})
    assert post_batch(dev_cloud, device, 1).status_code == 200
    dev_cloud.admin.set_clock_offset(150)
    assert post_batch(dev_cloud, device, 2).status_code == 503


def test_faults_are_listed_and_cleared(dev_cloud, device):
    first = dev_cloud.admin.add_fault("token", "reset", count=3)
    dev_cloud.admin.add_fault("ingest", "status")
    assert [f["id"] for f in dev_cloud.admin.faults()] == [first["id"], first["id"] + 1]
    assert dev_cloud.admin.clear_faults(first["id"]) == 1
    assert dev_cloud.admin.clear_faults() == 1
    assert post_batch(dev_cloud, device).status_code == 200


@pytest.mark.parametrize(
    "spec, says",
    [
        ({"endpoint": "token", "kind": "explode"}, "kind must be one of"),
        ({"endpoint": "nowhere", "kind": "reset"}, "endpoint must be one of"),
        ({"endpoint": "token", "kind": "status", "status": 200}, "status must be"),
        ({"endpoint": "token", "kind": "reset", "count": 0}, "count must be"),
        ({"endpoint": "token", "kind": "reset", "for_s": 5, "until": 9}, "for_s or until"),
    ],
)
def test_a_bad_fault_is_refused_with_what_to_fix(dev_cloud, spec, says):
    from host_tools.cloud.admin_client import AdminError

    with pytest.raises(AdminError) as refused:
        dev_cloud.admin.add_fault(**spec)
    assert refused.value.status == 400 and says in str(refused.value)
