# Power-cut campaign: the same logger session is replayed once per flash write, with the power
# cut at that write; after each cut the chip is remounted (a reboot) and the spool checked.
from sim_flash import PowerCut
from spool_fixtures import Board, all_pending, cycle

HEAPSIZE = "4m"
TIMEOUT = 120
WALL = 1800000000


class Ledger:
    """What the logger was told: appends that returned, confirmations begun and completed."""

    def __init__(self):
        self.stored = {}  # seq -> c16 of every reading whose append returned
        self.confirming = set()  # seqs handed to confirm(), even if it was interrupted
        self.confirmed = set()  # seqs of confirm() calls that returned
        self.in_flight = ()  # c16 values of the append that was running when the power went
        self.highest_seq = -1
        self.dropped = 0
        self.next_value = 0


def _append(board, ledger, n):
    readings = cycle(n, first_value=ledger.next_value)  # every reading has its own value
    ledger.next_value += n
    ledger.in_flight = [r.c16 for r in readings]
    first = board.spool.append(readings, board.clock.monotonic_ms())
    ledger.in_flight = ()
    for i, r in enumerate(readings):
        ledger.stored[first + i] = r.c16
    ledger.highest_seq = max(ledger.highest_seq, first + n - 1)
    ledger.dropped = board.spool.dropped()


def _confirm(board, ledger, pick):
    batch = board.spool.peek_batch(12)
    chosen = [r["seq"] for i, r in enumerate(batch) if pick(i)]
    ledger.confirming.update(chosen)
    board.spool.confirm(chosen)
    ledger.confirmed.update(chosen)
    ledger.dropped = board.spool.dropped()


def _session(board, ledger):
    """Sampling, uploads confirming subsets, the wall time learned half way, capacity reached."""
    for _ in range(6):
        _append(board, ledger, 4)
        board.clock.sleep_ms(60000)
    _confirm(board, ledger, lambda i: i % 3 != 1)  # a subset, not contiguous
    _append(board, ledger, 4)
    board.clock.set_wall_time(WALL, "http-date")
    for _ in range(4):
        _append(board, ledger, 3)
        board.clock.sleep_ms(60000)
    _confirm(board, ledger, lambda i: True)
    _confirm(board, ledger, lambda i: True)  # everything: the spool is empty for a moment
    _append(board, ledger, 2)
    _confirm(board, ledger, lambda i: i < 1)
    for k in range(12):  # past the capacity: the oldest are dropped
        _append(board, ledger, 4)
        if k % 4 == 3:
            _confirm(board, ledger, lambda i: i % 2 == 0)


def _check_after_reboot(board, ledger, capacity, new_drops):
    spool = board.spool
    pending = all_pending(spool)
    seq_list = [r["seq"] for r in pending]
    values = [round(r["c"] * 16) for r in pending if "c" in r]
    assert len(set(seq_list)) == len(seq_list), "a seq twice: %r" % seq_list
    assert len(set(values)) == len(values), "a reading under two seqs"
    assert 0 <= spool.dropped() - ledger.dropped <= new_drops, (spool.dropped(), ledger.dropped)
    assert spool.depth() == len(pending)
    by_seq = {r["seq"]: r for r in pending}
    missing = 0
    for seq, value in ledger.stored.items():
        r = by_seq.get(seq)
        if r is None:
            if seq not in ledger.confirming:
                missing += 1
            continue
        assert r.get("c") is None or round(r["c"] * 16) == value, (seq, r, value)
        assert seq not in ledger.confirmed, "seq %d came back after it was confirmed" % seq
    for seq, r in by_seq.items():
        if seq not in ledger.stored:
            assert round(r["c"] * 16) in ledger.in_flight, "a reading nobody appended: %r" % r
    # A reading that is gone unconfirmed was dropped for capacity, and counted.
    assert missing <= spool.dropped(), (missing, spool.dropped())
    assert spool.depth() <= capacity + 4
    highest = max([ledger.highest_seq] + seq_list)
    first = spool.append(cycle(1, first_value=-1), board.clock.monotonic_ms())
    assert first > highest, "seq %d reused (highest seen %d)" % (first, highest)


def _campaign(capacity, new_drops):
    """`new_drops`: how many readings the interrupted step may drop (an append over capacity)."""
    # One clean run counts the session's flash writes; then one run per write, cut there.
    board = Board(capacity=capacity, block_count=32)
    start = board.flash.writes
    _session(board, Ledger())
    total_writes = board.flash.writes - start
    board.shut_down()
    cuts = 0
    for cut_after in range(total_writes):
        board = Board(capacity=capacity, block_count=32)
        ledger = Ledger()
        board.flash.cut_power_after(cut_after)
        try:
            _session(board, ledger)
        except PowerCut:
            cuts += 1
        board.boot(image=board.flash.data)
        _check_after_reboot(board, ledger, capacity, new_drops)
        board.shut_down()
    return total_writes, cuts


def test_power_cut_at_every_flash_write_loses_and_duplicates_nothing():
    total_writes, cuts = _campaign(capacity=1000, new_drops=0)
    assert cuts == total_writes >= 150, (cuts, total_writes)


def test_power_cut_at_every_flash_write_while_dropping_for_capacity():
    total_writes, cuts = _campaign(capacity=24, new_drops=4)
    assert cuts == total_writes >= 150, (cuts, total_writes)
