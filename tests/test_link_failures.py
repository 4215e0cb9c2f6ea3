"""What goes wrong on the wire ends in one clear error within the deadline, and loses nothing.

The firmware runs under the real micropython; the servers are the dev cloud (with its faults)
or deliberately broken TLS servers on loopback (`link_servers.py`).
"""

import time

import pytest
from link_servers import BadServer, leaf_certificate
from link_support import LinkDevice, uploads

from host_tools.cloud.tls import ensure_certificates

pytest_plugins = ["link_secret_scan"]

DEADLINE_MS = 3000


def one_round(device):
    """One upload round with a 3 s deadline; (run, wall seconds)."""
    started = time.monotonic()
    run = device.run({"steps": [uploads(1, deadline_ms=DEADLINE_MS)]}, timeout=30)
    return run, time.monotonic() - started


def failure(run):
    lines = [line for line in run.lines if "upload failed: " in line]
    assert len(lines) == 1, run.output
    return lines[0].split("upload failed: ", 1)[1]


def point_at(device, base_url, ca_der=None):
    config = device.read_json("config.json")
    config["cloud"]["base_url"] = base_url
    device.write_json("config.json", config)
    if ca_der is not None:
        (device.folder / "ca.der").write_bytes(ca_der)


@pytest.fixture
def device(dev_cloud, tmp_path):
    return LinkDevice.create(tmp_path, dev_cloud, "oauth2")


def assert_kept_within_deadline(run, wall_s):
    assert run.returncode == 0, run.output
    assert run.summary["kept"] == [1]
    # A whole process start, the deadline, and a margin for a loaded machine.
    assert wall_s < DEADLINE_MS / 1000 + 2, wall_s


def test_a_server_signed_by_another_ca_is_refused(device, tmp_path):
    other = ensure_certificates(tmp_path / "other-ca")
    point_at(device, device.cloud.base_url, other.ca_der.read_bytes())
    run, wall_s = one_round(device)
    assert failure(run).startswith("tls: certificate of localhost not accepted"), run.output
    assert_kept_within_deadline(run, wall_s)
    assert device.events("refreshed") == []  # no request got through


def test_a_certificate_for_another_host_is_refused(device, tmp_path):
    cert, key = leaf_certificate(device.cloud.running.certs, tmp_path, "elsewhere.example")
    server = BadServer("ok", cert, key)
    try:
        point_at(device, server.base_url)
        run, wall_s = one_round(device)
    finally:
        server.close()
    message = failure(run)
    assert message.startswith("tls: certificate of localhost not accepted"), message
    assert "CN" in message or "name" in message.lower(), message
    assert_kept_within_deadline(run, wall_s)


@pytest.mark.parametrize(
    "behaviour, expected",
    [
        ("stall_mid_body", "timeout: "),
        ("garbage", "protocol: the reply is not HTTP"),
        ("not_tls", "tls: handshake with localhost failed"),
    ],
)
def test_a_broken_server_is_a_clear_error_within_the_deadline(device, behaviour, expected):
    certs = device.cloud.running.certs
    server = BadServer(behaviour, certs.server_cert, certs.server_key)
    try:
        point_at(device, server.base_url)
        # The server answers the token request too: put the access token in place.
        credential = device.read_json("credential.json")
        credential["access_token"] = device.info["credential"]["access_token"]
        device.write_json("credential.json", credential)
        run, wall_s = one_round(device)
    finally:
        server.close()
    assert failure(run).startswith(expected), run.output
    assert_kept_within_deadline(run, wall_s)


def test_a_10_mb_reply_is_refused_and_the_next_round_stores_everything(device, dev_cloud):
    dev_cloud.admin.add_fault("ingest", "huge_body", count=1)
    run, wall_s = one_round(device)
    assert failure(run).startswith("too_large: reply body of 10485760 bytes"), run.output
    assert_kept_within_deadline(run, wall_s)
    time.sleep(0.01)
    again = device.run({"steps": [uploads(1, every_ms=0), uploads(1)]})
    assert again.summary["kept"] == [] and device.stored_seqs() == [1, 2, 3]
