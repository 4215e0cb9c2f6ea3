"""The cloud link recovering from what clouds do to tokens: revocation, expiry, a lost rotation.

The firmware runs under the real micropython against the dev cloud over HTTPS; the cloud's
token events say exactly how many requests were refused and how many renewals happened.
"""

import pytest
from link_support import LinkDevice, uploads

pytest_plugins = ["link_secret_scan"]


def last_event_id(device):
    events = device.events()
    return events[-1]["id"] if events else 0


def events_since(device, after, kind):
    return [e for e in device.cloud.admin.events(device.info["device_id"], kind, after)]


def revoke_access_token(device):
    """RFC 7009 revocation of the device's current access token, as another party might."""
    token = device.read_json("credential.json")["access_token"]
    reply = device.cloud.session().post(
        device.cloud.url("/oauth/revoke"),
        data={"token": token, "token_type_hint": "access_token"},
        auth=(device.info["client_id"], device.info["client_secret"]),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text


def expire_access_token(device):
    assert device.cloud.admin.expire(device.info["device_id"], "access") >= 1


@pytest.mark.parametrize("spoil", [revoke_access_token, expire_access_token])
def test_a_spoiled_access_token_costs_one_refusal_one_renewal_one_retry(
    dev_cloud, tmp_path, spoil
):
    device = LinkDevice.create(tmp_path, dev_cloud, "oauth2", access_ttl_s=3600)
    first = device.run({"steps": [uploads(2)]})
    assert first.summary["kept"] == []
    spoil(device)
    mark = last_event_id(device)
    second = device.run({"steps": [uploads(3)]})  # after a reboot: the stored token is used
    assert second.summary["kept"] == [] and second.summary["failures"] == 0
    assert device.stored_seqs() == [1, 2, 3, 4, 5]
    refused = [e for e in events_since(device, mark, "rejected") if e["where"] == "api"]
    assert len(refused) == 1, refused
    assert len(events_since(device, mark, "refreshed")) == 1
    assert second.summary["renewals"] == 1


def test_a_lost_rotation_reply_heals_itself_inside_a_grace_window(dev_cloud, tmp_path):
    device = LinkDevice.create(tmp_path, dev_cloud, "oauth2", access_ttl_s=2, grace_s=30)
    dev_cloud.admin.add_fault("token", "drop_reply", count=1)
    run = device.run({"steps": [uploads(10)]})
    assert run.summary["kept"] == [] and run.summary["failures"] == 0
    assert device.stored_seqs() == list(range(1, 11))
    assert not any("NEEDS PROVISIONING" in line for line in run.console)
    assert device.events("rejected") == []


def test_without_a_grace_window_a_lost_rotation_needs_provisioning_and_loses_nothing(
    dev_cloud, tmp_path
):
    device = LinkDevice.create(tmp_path, dev_cloud, "oauth2", access_ttl_s=2, grace_s=0)
    dev_cloud.admin.add_fault("token", "drop_reply", count=1)
    plan = {"steps": [uploads(6), {"do": "provision"}, uploads(4)]}
    run = device.run_approving(plan)
    assert run.returncode == 0
    needs = [line for line in run.console if "NEEDS PROVISIONING" in line]
    assert needs == [
        "tempnode: NEEDS PROVISIONING: the cloud rejected the stored refresh token "
        "(invalid_grant); readings are kept; run tempnode.provision()"
    ], run.console
    assert run.count("upload failed: needs provisioning") == 6  # all six rounds kept theirs
    assert "tempnode: device flow approved" in run.console
    assert run.summary["kept"] == [] and device.stored_seqs() == list(range(1, 11))
    assert run.summary["status"]["needs_provisioning"] is None
