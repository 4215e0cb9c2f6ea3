"""Killing the device (SIGKILL) at random moments while it rotates its refresh token.

The firmware runs under the real micropython against the dev cloud (with and without a grace
window) and against a standard OpenID Connect server (oidc-provider: rotation without grace,
a reused refresh token revokes the grant), renewing again and again with rotation on; the test
kills it at a random moment, starts it again, and so on until the cloud has rotated the token
200 times. After every kill the device must come back with a credential the cloud accepts;
only without a grace window, and only when the kill fell between the cloud's rotation and the
device's write (the file still says `refreshing`), may it come back in needs-provisioning,
with a clear message and no crash loop.
"""

import random
import time

import pytest
from link_support import LinkDevice, cloud_for, uploads

pytest_plugins = ["link_secret_scan"]

ROTATIONS = 200


def rotations(device):
    return len(device.events("refreshed"))


def start_after_kill(device, plan, kill_after_s=None):
    """Start the device on the files the last one left; kill it after `kill_after_s`.
    Returns (run, whether it came back in needs-provisioning)."""
    before = device.read_json("credential.json")  # atomic writes: always whole JSON
    proc = device.spawn(plan)
    output = ""
    if kill_after_s is not None:
        output = proc.stdout.readline()  # "ready": the kill lands among the renewals
        time.sleep(kill_after_s)
        proc.kill()
    output += proc.communicate(timeout=30)[0]
    run = device.finish(output, proc.returncode)
    assert "Traceback" not in output, output.splitlines()
    needs = bool(device.read_json("credential.json").get("needs_provisioning"))
    if needs:
        # Only a kill inside a refresh (the cloud rotated, the reply never got stored).
        assert before.get("refreshing") is True, sorted(before)
        device.info["credential"] = device.cloud.admin.provision(device.info["device_id"])
        device.write_json("credential.json", device.host_credential())  # tempnode provision
    return run, needs


SERVERS = [("dev cloud", 60), ("dev cloud", 0), ("oidc-provider", None)]


@pytest.mark.parametrize(
    ("server", "grace_s"), SERVERS, ids=["dev cloud, 60 s grace", "dev cloud, no grace", "oidc"]
)
def test_random_kills_during_200_rotations_never_lose_the_credential(
    request, tmp_path, server, grace_s
):
    cloud = cloud_for(request, server)
    grace = {} if grace_s is None else {"grace_s": grace_s}
    device = LinkDevice.create(tmp_path, cloud, "oauth2", access_ttl_s=3600, **grace)
    rng = random.Random(grace_s if grace_s is not None else 15)
    kills = needs_provisioning = 0
    while rotations(device) < ROTATIONS:
        _, needs = start_after_kill(
            device, {"steps": [{"do": "renew", "count": 10000}]}, rng.uniform(0, 0.1)
        )
        kills += 1
        needs_provisioning += needs
    check = {"steps": [{"do": "renew", "count": 1}, uploads(1)]}
    run, needs = start_after_kill(device, check)
    needs_provisioning += needs
    if needs:
        run, _ = start_after_kill(device, check)
    print(
        f"{server}, grace {grace_s or 0} s: {rotations(device)} rotations, {kills} kills, "
        f"needs-provisioning {needs_provisioning} times"
    )
    assert run.returncode == 0 and run.summary["kept"] == [], run.output
    if grace_s:
        assert needs_provisioning == 0
