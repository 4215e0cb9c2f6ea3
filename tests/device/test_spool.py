# The spool on littlefs over the simulated flash: round trips, confirmations, capacity, reboots,
# time stamps across boots, a full filesystem, and flash wear.
from devtest import raises
from spool_fixtures import ROMS, Board, all_pending, cycle, free_blocks, seqs
from tempnode.sensors import Reading

HEAPSIZE = "4m"
ENV = {"TEMPNODE_VCLOCK_STILL": "1"}  # only sleeps move virtual time: exact stamps
WALL = 1800000000
ENOSPC = 28


def test_round_trip_in_wire_form_then_confirmed_readings_are_gone():
    board = Board()
    spool = board.spool
    board.clock.sleep_ms(5000)
    mono = board.clock.monotonic_ms()
    first = spool.append(cycle(4, first_value=345, error_every=3), mono)
    assert first == 0
    batch = spool.peek_batch(10)
    assert batch == [
        {"seq": 0, "sensor": "28ff4a1b02170345", "label": "tank", "mono_ms": mono, "c": 21.5625},
        {"seq": 1, "sensor": "28ff4a1b02170346", "label": "boiler", "mono_ms": mono, "c": 21.625},
        {"seq": 2, "sensor": "1000000001020304", "label": "", "mono_ms": mono, "error": "crc"},
        {"seq": 3, "sensor": "3b00000001020305", "label": "flue", "mono_ms": mono, "c": 21.75},
    ], batch
    assert spool.depth() == 4
    spool.confirm([0, 1, 2, 3])
    assert spool.depth() == 0
    assert spool.peek_batch(10) == []
    assert spool.append(cycle(2), board.clock.monotonic_ms()) == 4


def test_readings_taken_with_the_wall_time_known_carry_t():
    board = Board()
    board.clock.set_wall_time(WALL, "http-date")
    board.clock.sleep_ms(61000)
    board.spool.append(cycle(2), board.clock.monotonic_ms())
    assert [r["t"] for r in all_pending(board.spool)] == [WALL + 61, WALL + 61]
    assert all("mono_ms" not in r for r in all_pending(board.spool))


def test_peek_is_oldest_first_and_bounded_and_does_not_consume():
    board = Board()
    for k in range(5):
        board.spool.append(cycle(4, first_value=10 * k), board.clock.monotonic_ms())
    assert seqs(board.spool.peek_batch(6)) == [0, 1, 2, 3, 4, 5]
    assert seqs(board.spool.peek_batch(6)) == [0, 1, 2, 3, 4, 5]
    assert len(all_pending(board.spool)) == 20


def test_partial_and_non_contiguous_confirmations():
    board = Board()
    for _k in range(3):
        board.spool.append(cycle(4), board.clock.monotonic_ms())
    board.spool.confirm([1, 3, 4, 8, 11, 99, -5])  # 99 and -5 were never sent: ignored
    assert seqs(all_pending(board.spool)) == [0, 2, 5, 6, 7, 9, 10]
    assert board.spool.depth() == 7
    board.spool.confirm([0, 2])
    assert seqs(all_pending(board.spool)) == [5, 6, 7, 9, 10]
    board.spool.confirm([9, 1, 9])  # repeats and already-confirmed seqs change nothing
    assert seqs(all_pending(board.spool)) == [5, 6, 7, 10]
    spool = board.boot()
    assert seqs(all_pending(spool)) == [5, 6, 7, 10]
    assert spool.depth() == 4
    assert spool.dropped() == 0


def test_reboot_keeps_readings_and_continues_the_sequence():
    board = Board()
    board.spool.append(cycle(4), board.clock.monotonic_ms())
    board.spool.confirm([0, 1, 2, 3])
    board.spool.append(cycle(3, first_value=7), board.clock.monotonic_ms())
    before = all_pending(board.spool)
    spool = board.boot()
    assert [(r["seq"], r["c"]) for r in all_pending(spool)] == [(r["seq"], r["c"]) for r in before]
    assert spool.append(cycle(1), board.clock.monotonic_ms()) == 7
    # Everything confirmed, then a reboot: the sequence still does not restart.
    spool.confirm(range(8))
    spool = board.boot()
    assert spool.depth() == 0
    assert spool.append(cycle(1), board.clock.monotonic_ms()) == 8


def test_capacity_drops_the_oldest_unconfirmed_and_counts_them_persistently():
    board = Board(capacity=10)
    for k in range(4):
        board.spool.append(cycle(4, first_value=100 * k), board.clock.monotonic_ms())
    assert board.spool.depth() == 10
    assert board.spool.dropped() == 6
    assert seqs(all_pending(board.spool)) == list(range(6, 16))
    board.spool.confirm([7, 9])  # confirmed readings are not "dropped" when passed over
    board.spool.append(cycle(4), board.clock.monotonic_ms())
    assert seqs(all_pending(board.spool)) == list(range(10, 20))
    # 6 earlier, then 6 and 8 now; the confirmed 7 and 9 are passed over, not counted.
    assert board.spool.dropped() == 8
    spool = board.boot()
    assert spool.dropped() == 8
    assert spool.depth() == 10


def test_mono_stamps_become_wall_time_once_known_in_this_boot_and_after_a_reboot():
    board = Board()
    board.clock.sleep_ms(3000)
    board.spool.append(cycle(1), board.clock.monotonic_ms())  # boot 1 learns the time later
    board.clock.sleep_ms(2000)
    board.clock.set_wall_time(WALL, "ntp")
    assert all_pending(board.spool)[0]["t"] == WALL - 2
    board.clock.sleep_ms(1000)
    board.spool.append(cycle(1), board.clock.monotonic_ms())

    spool = board.boot()  # boot 2 never learns the time
    board.clock.sleep_ms(7000)
    spool.append(cycle(1), board.clock.monotonic_ms())
    spool = board.boot()  # boot 3: sends while its own time is unknown
    board.clock.sleep_ms(4000)
    spool.append(cycle(1), board.clock.monotonic_ms())
    batch = all_pending(spool)
    assert batch[0]["t"] == WALL - 2 and "boot" not in batch[0]
    assert batch[1]["t"] == WALL + 1
    # Another boot's monotonic time cannot be converted with this boot's sent_mono_ms.
    assert batch[2]["mono_ms"] == 7000 and batch[2]["boot"] == 2, batch[2]
    assert batch[3]["mono_ms"] == 4000 and "boot" not in batch[3] and "t" not in batch[3]


def test_bad_readings_are_refused_before_anything_is_written():
    board = Board()
    board.spool.append(cycle(2), board.clock.monotonic_ms())
    neither = Reading(ROMS[0], "tank")  # no value and no reason
    with raises(ValueError):
        board.spool.append(cycle(2) + [neither], board.clock.monotonic_ms())
    unknown = Reading(ROMS[0], "tank")
    unknown.error = "gremlins"
    with raises(ValueError) as r:
        board.spool.append([unknown], board.clock.monotonic_ms())
    assert "bus_short" in str(r.value)
    assert board.spool.depth() == 2
    assert board.spool.append(cycle(1), board.clock.monotonic_ms()) == 2


def _fill_filesystem(keep_free_blocks):
    with open("ballast.bin", "wb") as f:
        while free_blocks() > keep_free_blocks:
            f.write(b"\0" * 512)


def test_full_filesystem_drops_the_oldest_segment_to_make_room():
    board = Board(capacity=100000, block_count=32)
    for k in range(40):  # several segments
        board.spool.append(cycle(4, first_value=k), board.clock.monotonic_ms())
    _fill_filesystem(keep_free_blocks=0)
    appended = 0
    while board.spool.dropped() == 0:  # until the filesystem has no room for the next append
        board.spool.append(cycle(4), board.clock.monotonic_ms())
        appended += 4
        assert appended < 4000, "the filesystem never filled up"
    for _ in range(10):  # and on, with the flash still full
        board.spool.append(cycle(4), board.clock.monotonic_ms())
        appended += 4
    spool = board.spool
    assert spool.dropped() > 0
    pending = seqs(all_pending(spool))
    assert pending == list(range(pending[0], 160 + appended)), "a contiguous newest run"
    assert spool.dropped() == pending[0]
    spool = board.boot()
    assert seqs(all_pending(spool)) == pending
    assert spool.dropped() == pending[0]
    # A new boot on the full flash: its first reading needs its boot number written first.
    assert spool.append(cycle(1), board.clock.monotonic_ms()) == 160 + appended
    assert seqs(all_pending(spool))[-1] == 160 + appended


def test_full_filesystem_with_nothing_to_drop_raises_and_keeps_the_spool():
    board = Board(block_count=32)
    board.spool.append(cycle(4), board.clock.monotonic_ms())
    board.spool.confirm([0, 1, 2, 3])
    _fill_filesystem(keep_free_blocks=0)
    with open("ballast2.bin", "wb") as f:  # the last bytes littlefs can still place inline
        try:
            while True:
                f.write(b"\0" * 16)
                f.flush()
        except OSError:
            pass
    with raises(OSError) as r:
        board.spool.append(cycle(40), board.clock.monotonic_ms())
    assert r.value.errno == ENOSPC
    assert board.spool.depth() == 0
    spool = board.boot()
    assert spool.depth() == 0 and spool.dropped() == 0
    import os

    os.remove("ballast.bin")
    assert spool.append(cycle(1), board.clock.monotonic_ms()) == 4


def test_flash_wear_per_reading_stays_low():
    # The logger's steady state: 4 sensors sampled every cycle, an upload every 10 cycles.
    board = Board(capacity=10000, block_count=256)
    flash = board.flash
    writes, erases = flash.writes, flash.erases
    cycles = 600
    for k in range(cycles):
        board.spool.append(cycle(4, first_value=k), board.clock.monotonic_ms())
        if k % 10 == 9:
            board.spool.confirm(seqs(board.spool.peek_batch(40)))
    readings = 4 * cycles
    writes_per_reading = (flash.writes - writes) / readings
    erases_per_reading = (flash.erases - erases) / readings
    print(
        "block writes per reading %.2f, erases per reading %.3f"
        % (writes_per_reading, erases_per_reading)
    )
    assert board.spool.depth() == 0
    assert writes_per_reading < 4, writes_per_reading
    assert erases_per_reading < 0.4, erases_per_reading
