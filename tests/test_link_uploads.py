"""The cloud link end to end: the firmware under the real micropython, the dev cloud over HTTPS.

Access tokens live 2 s and the device uploads every 0.5 s for 60 s of virtual time, in every
dialect; the cloud's stored readings and token events are the evidence.
"""

import pytest
from link_support import YEAR_S, LinkDevice, uploads

pytest_plugins = ["link_secret_scan"]

ROUNDS = 120  # 60 s of uploads every 0.5 s
LIFETIMES = 30  # 60 s of 2 s tokens


def short_lived(tmp_path, dev_cloud, profile, device_id=None, **env):
    device = LinkDevice.create(tmp_path, dev_cloud, profile, device_id, access_ttl_s=2)
    run = device.run({"steps": [uploads(ROUNDS, every_ms=500, close=False)]}, **env)
    assert run.returncode == 0, run.output
    return device, run


def api_rejections(device):
    return [e for e in device.events("rejected") if e.get("where") == "api"]


@pytest.mark.parametrize("profile", ["oauth2", "particle", "usergrid"])
def test_dialects_with_lifetimes_renew_ahead_and_are_never_refused(dev_cloud, tmp_path, profile):
    device, run = short_lived(tmp_path, dev_cloud, profile)
    assert run.summary["kept"] == [] and run.summary["failures"] == 0
    assert device.stored_seqs() == list(range(1, ROUNDS + 1))
    assert api_rejections(device) == []
    renewals = run.summary["renewals"]
    print(f"{profile}: {renewals} renewals in {LIFETIMES} token lifetimes")
    # Renewal at 65-75 % of each 2 s lifetime less the 1 s margin for servers that round `exp`
    # down (and the request's travel): about every 0.7 s, checked every 0.5 s: every second
    # round. A 1-hour token loses 1 s of its 3600 to the margin.
    assert LIFETIMES <= renewals <= ROUNDS // 2 + 1, renewals
    assert run.summary["handshakes"] == 1  # one session: keep-alive across all renewals


def test_speckle_without_lifetimes_renews_on_rejection_and_retries_once(dev_cloud, tmp_path):
    device, run = short_lived(tmp_path, dev_cloud, "speckle")
    assert run.summary["kept"] == [] and run.summary["failures"] == 0
    assert device.stored_seqs() == list(range(1, ROUNDS + 1))
    renewals = run.summary["renewals"]
    print(f"speckle: {renewals} renewals in {LIFETIMES} token lifetimes")
    assert LIFETIMES - 2 <= renewals <= LIFETIMES + 2, renewals
    # The first renewal turns the stored refresh token into an access token; each later one
    # follows exactly one refused request, which is then sent once more and stored.
    assert len(api_rejections(device)) == renewals - 1
    assert {e["reason"] for e in api_rejections(device)} == {"expired"}


def test_a_wall_clock_wrong_by_a_year_does_not_move_renewals(dev_cloud, tmp_path):
    _, right = short_lived(tmp_path, dev_cloud, "oauth2", "right-rtc")
    wrong_device, wrong = short_lived(
        tmp_path, dev_cloud, "oauth2", "wrong-rtc", TEMPNODE_RTC_ERROR_S=-YEAR_S
    )
    assert right.summary["rtc"] - wrong.summary["rtc"] > YEAR_S - 3600  # the RTC was wrong
    assert wrong.summary["renewals"] == right.summary["renewals"], (right.summary, wrong.summary)
    assert api_rejections(wrong_device) == [] and wrong.summary["kept"] == []


def test_spark2014_cannot_renew_so_it_says_so_and_keeps_its_readings(dev_cloud, tmp_path):
    device = LinkDevice.create(tmp_path, dev_cloud, "spark2014", access_ttl_s=2)
    run = device.run({"steps": [uploads(20, every_ms=500)]})
    assert run.returncode == 0, run.output
    stored = device.stored_seqs()
    assert 3 <= len(stored) <= 5 and stored == list(range(1, len(stored) + 1))
    assert run.summary["kept"] == list(range(len(stored) + 1, 21))
    needs = [line for line in run.console if "NEEDS PROVISIONING" in line]
    assert needs == [
        "tempnode: NEEDS PROVISIONING: the cloud rejected the stored access token, which "
        "cannot be renewed on the device with this cloud; readings are kept; provision it "
        "from the host (tempnode provision)"
    ], run.console
    # One refused request, then no more calls with a dead credential.
    assert len(api_rejections(device)) == 1
    assert run.summary["status"]["needs_provisioning"]
