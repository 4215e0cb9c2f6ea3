# Atomic state files: round trips, clear errors, and power cuts at every flash write.
import os

from devtest import mount_sim_flash, raises, unmount
from sim_flash import PowerCut, SimFlash
from tempnode import atomic


def test_round_trip_and_no_temporary_left_behind():
    atomic.write_json("state.json", {"seq": 1})
    atomic.write_json("state.json", {"seq": 2})
    assert atomic.read_json("state.json") == {"seq": 2}
    assert "state.json.tmp" not in os.listdir()


def test_missing_file_reads_as_none():
    assert atomic.read_bytes("nope.bin") is None
    assert atomic.read_json("nope.json") is None


def test_corrupt_json_names_the_file():
    with open("broken.json", "w") as f:
        f.write("{not json")
    with raises(ValueError) as r:
        atomic.read_json("broken.json")
    assert "broken.json" in str(r.value)


def test_power_cut_at_every_write_leaves_old_or_new_never_a_mix():
    old = b"old-" * 300
    new = b"new-" * 400
    cut_points = 0
    for cut_after in range(64):
        flash = SimFlash(block_size=512, block_count=64)
        mount_sim_flash(flash)
        atomic.write_bytes("token.bin", old)
        flash.cut_power_after(cut_after)
        try:
            atomic.write_bytes("token.bin", new)
            completed = True
        except PowerCut:
            completed = False
            cut_points += 1
        unmount()
        # Reboot: mount what is on the chip now.
        mount_sim_flash(SimFlash(512, 64, flash.data))
        assert atomic.read_bytes("token.bin") in (old, new)
        if completed:
            assert atomic.read_bytes("token.bin") == new
            unmount()
            break
        unmount()
    assert cut_points >= 3, cut_points


def test_full_filesystem_keeps_the_old_file():
    flash = SimFlash(block_size=512, block_count=16)
    mount_sim_flash(flash)
    atomic.write_bytes("token.bin", b"kept")
    with raises(OSError):
        atomic.write_bytes("token.bin", b"x" * 16 * 512)
    assert atomic.read_bytes("token.bin") == b"kept"
    assert "token.bin.tmp" not in os.listdir()
    unmount()
