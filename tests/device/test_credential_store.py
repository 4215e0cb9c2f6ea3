# credential.json under MicroPython: formats, durability order, power cuts at every flash write.
import json
import os

from devtest import mount_sim_flash, raises, unmount
from sim_flash import PowerCut, SimFlash
from tempnode.credential_store import CredentialStore
from tempnode.redact import LinkError

HEAPSIZE = "256k"
R1 = "refresh-one-0123456789"
R2 = "refresh-two-0123456789"
A1 = "access-one-0123456789"
A2 = "access-two-0123456789"


def write(obj, path="credential.json"):
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))


def on_flash():
    with open("credential.json") as f:
        return json.loads(f.read())


def test_no_file_means_needs_provisioning_with_what_to_do():
    store = CredentialStore("credential.json")
    reason = store.needs_provisioning()
    assert "no credential.json" in reason and "provision" in reason, reason
    assert store.access_token() is None


def test_a_minimal_file_from_the_host_tools_is_enough():
    write({"kind": "refresh_token", "refresh_token": R1})
    store = CredentialStore("credential.json")
    assert store.needs_provisioning() is None
    assert store.kind() == "refresh_token" and store.data["refresh_token"] == R1
    assert store.access_token() is None


def test_corrupt_or_incomplete_files_are_reported_never_raised():
    cases = (
        ("{not json", "not valid JSON"),
        ({"kind": "password", "password": "x"}, "no valid kind"),
        ({"kind": "client_credentials", "client_id": "dev-1"}, "no client_secret"),
        ({"kind": "access_token", "access_token": ""}, "no access_token"),
    )
    for content, expected in cases:
        write(content)
        reason = CredentialStore("credential.json").needs_provisioning()
        assert expected in reason, (content, reason)


def test_a_renewal_replaces_both_tokens_in_one_write_and_clears_the_marker():
    write({"kind": "refresh_token", "refresh_token": R1, "access_token": A1, "expires_in": 60})
    store = CredentialStore("credential.json")
    store.begin_refresh()
    assert on_flash()["refreshing"] is True and on_flash()["refresh_token"] == R1
    store.store_renewal(A2, 3600, R2, issued_at=1800000000)
    saved = on_flash()
    assert (saved["refresh_token"], saved["access_token"], saved["expires_in"]) == (R2, A2, 3600)
    assert saved["refreshing"] is False and saved["needs_provisioning"] is None
    assert store.access_token() == A2 and saved["issued_at"] == 1800000000


def test_a_reply_without_a_refresh_token_keeps_the_old_one():
    write({"kind": "refresh_token", "refresh_token": R1})
    store = CredentialStore("credential.json")
    store.store_renewal(A2, None, None)
    assert on_flash()["refresh_token"] == R1 and on_flash()["access_token"] == A2


def test_the_refresh_marker_and_the_token_issue_time_survive_a_reboot():
    write({"kind": "refresh_token", "refresh_token": R1})
    store = CredentialStore("credential.json")
    store.store_renewal(A1, 60, None, 1800000000)
    store.begin_refresh()
    rebooted = CredentialStore("credential.json")
    assert rebooted.data["refreshing"] is True
    assert rebooted.access_token() == A1 and rebooted.data["issued_at"] == 1800000000


def test_a_credential_changed_by_the_host_tools_is_noticed():
    write({"kind": "refresh_token", "refresh_token": R1})
    store = CredentialStore("credential.json")
    assert store.load() is False
    write({"kind": "refresh_token", "refresh_token": R2})
    assert store.load() is True and store.data["refresh_token"] == R2


def test_repr_shows_no_secret():
    write({"kind": "client_credentials", "client_id": "dev-1", "client_secret": R1})
    text = repr(CredentialStore("credential.json"))
    assert R1 not in text and "client_credentials" in text, text


def fill_flash():
    size, n = 512, 0
    while size:
        try:
            with open("filler%d" % n, "wb") as f:
                f.write(b"x" * size)
            n += 1
        except OSError:
            size //= 2


def test_power_cut_at_every_write_of_a_renewal_leaves_a_usable_credential():
    outcomes = set()
    for cut_after in range(40):
        flash = SimFlash(block_size=512, block_count=64)
        mount_sim_flash(flash)
        write({"kind": "refresh_token", "refresh_token": R1, "access_token": A1})
        store = CredentialStore("credential.json")
        flash.cut_power_after(cut_after)
        try:
            store.begin_refresh()
            store.store_renewal(A2, 60, R2)
            finished = True
        except (PowerCut, LinkError):
            finished = False
        unmount()
        mount_sim_flash(SimFlash(512, 64, flash.data))  # reboot
        after = CredentialStore("credential.json")
        assert after.needs_provisioning() is None, after.needs_provisioning()
        pair = (after.data["refresh_token"], after.data["access_token"])
        assert pair in ((R1, A1), (R2, A2)), pair  # never the new access with the old refresh
        outcomes.add((pair[0], bool(after.data.get("refreshing"))))
        unmount()
        if finished:
            break
    # Cut before the marker, after it, and the finished renewal were all seen.
    assert outcomes == {(R1, False), (R1, True), (R2, False)}, outcomes


def test_a_full_flash_keeps_the_renewal_in_memory_and_hands_out_no_token_until_saved():
    flash = SimFlash(block_size=512, block_count=16)
    mount_sim_flash(flash)
    write({"kind": "refresh_token", "refresh_token": R1, "access_token": A1})
    store = CredentialStore("credential.json")
    fill_flash()
    with raises(LinkError) as r:
        store.store_renewal(A2, 60, R2)
    assert "cannot write" in str(r.value) and A2 not in str(r.value)
    assert store.access_token() is None and store.data["refresh_token"] == R2
    assert on_flash()["refresh_token"] == R1
    for name in os.listdir():
        if name.startswith("filler"):
            os.remove(name)
    store.save()
    assert store.access_token() == A2 and on_flash()["refresh_token"] == R2
    unmount()
