# Every reason the read cycle can give is one the spool can keep: a reading without a number is
# stored with its reason and comes back as it went in (the code on flash is its index).
from spool_fixtures import ROMS, Board, all_pending
from tempnode import ds18x20
from tempnode.sensors import Reading

HEAPSIZE = "4m"
ENV = {"TEMPNODE_VCLOCK_STILL": "1"}


def test_every_reason_of_the_read_cycle_goes_through_the_spool():
    board = Board()
    readings = []
    for reason in ds18x20.REASONS:
        r = Reading(ROMS[0], "tank")
        r.error = reason
        readings.append(r)
    board.spool.append(readings, board.clock.monotonic_ms())
    assert [r["error"] for r in all_pending(board.spool)] == list(ds18x20.REASONS)
    assert "stuck" in ds18x20.REASONS and "unconfirmed" in ds18x20.REASONS
