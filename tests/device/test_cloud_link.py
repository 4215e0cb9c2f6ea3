# The cloud link's gate under MicroPython, on a scripted socket: each failed attempt moves the
# backoff one step, however many layers hear of the failure.
import json

from devtest import raises
from link_fakes import FakeNet, reply
from tempnode import http
from tempnode.clock import Clock
from tempnode.cloud_link import CloudLink
from tempnode.redact import LinkError

HEAPSIZE = "256k"
CONFIG = {
    "device_id": "logger-01",
    "cloud": {
        "profile": "oauth2",
        "base_url": "http://cloud.test:8080",
        "insecure_http": True,
        "client_id": "tempnode",
    },
}
REFUSED_BASE_MS = 60000  # tempnode.backoff.POLICY["refused"]: 1 min, doubling
READING = {"seq": 1, "sensor": "tank", "t": 1780000000, "c": 20.5}


def link_with(*scripts):
    with open("credential.json", "w") as f:
        f.write(json.dumps({"kind": "refresh_token", "refresh_token": "refresh-1-abcdefgh"}))
    http.socket = http.select = FakeNet(*scripts)
    return CloudLink(CONFIG, {"client_secret": "client-secret-xyz"}, Clock())


def redirect():
    return reply(302, b"", {"Location": "http://portal.example/login"})


def test_a_refused_attempt_is_counted_once_though_the_logger_reports_it_too():
    link = link_with([redirect()])
    with raises(LinkError) as failure:
        link.upload([READING], link.clock.monotonic_ms() + 5000)
    assert failure.value.outcome == "refused", failure.value.outcome
    link.failed(failure.value)  # what the field logger does with every error it catches
    assert link.gate.failures == 1, link.gate.failures
    assert 0 < link.wait_ms() <= REFUSED_BASE_MS, link.wait_ms()


def test_the_wait_doubles_once_per_attempt():
    link = link_with([redirect()], [redirect()], [redirect()])
    for attempt in range(3):
        link.gate.restore(link.gate.failures, 0, 0)  # its wait has passed
        with raises(LinkError) as failure:
            link.upload([READING], link.clock.monotonic_ms() + 5000)
        link.failed(failure.value)
        assert link.wait_ms() <= REFUSED_BASE_MS << attempt, (attempt, link.wait_ms())
    assert link.gate.failures == 3, link.gate.failures
