# The one backoff policy: full jitter under an exponential ceiling, Retry-After, cap, reset,
# a schedule per outcome, and a state that survives a reset.
from tempnode.backoff import Backoff


def waits(backoff, failures, now=0, retry_after=None, outcome=None):
    return [backoff.failed(now, outcome, retry_after) for _ in range(failures)]


def test_each_wait_is_random_below_a_doubling_ceiling_up_to_the_cap():
    ceilings = (1000, 2000, 4000, 8000, 10000, 10000)
    for _ in range(200):
        w = waits(Backoff(1000, 10000), 6)
        assert all(0 <= w[i] <= ceilings[i] for i in range(6)), w


def test_the_jitter_spreads_over_the_whole_range():
    samples = [Backoff(1000, 60000).failed(0) for _ in range(300)]
    assert min(samples) < 150 and max(samples) > 850, (min(samples), max(samples))


def test_retry_after_is_a_floor_but_still_capped():
    assert Backoff(1000, 60000).failed(0, None, 30000) >= 30000
    assert Backoff(1000, 60000).failed(0, None, 3600000) == 60000


def test_wait_counts_down_on_the_monotonic_clock_and_success_resets():
    b = Backoff(1000, 60000)
    b.failed(5000, None, 10000)
    assert b.wait_ms(6000) == 9000 and b.wait_ms(15000) == 0
    b.succeeded()
    assert b.failures == 0 and b.wait_ms(5000) == 0


def test_a_floor_makes_a_slow_rate():
    for _ in range(100):
        assert 900000 <= Backoff(900000, 21600000, 900000).failed(0) <= 900000
    b = Backoff(900000, 21600000, 900000)
    assert all(900000 <= w <= 21600000 for w in waits(b, 10))


def test_each_outcome_has_its_schedule_and_the_count_carries_over():
    for _ in range(50):
        gate = Backoff.by_outcome()
        transient = waits(gate, 3, outcome="transient")
        assert all(w <= 8000 for w in transient), transient  # 2, 4, 8 s ceilings
        refused = gate.failed(0, "refused")  # the fourth failure: 1 min << 3, under 1 h
        assert refused <= 480000, refused
        assert all(w <= 3600000 for w in waits(gate, 10, outcome="refused"))
        dead = Backoff.by_outcome().failed(0, "credential_refused")
        assert dead == 900000, dead  # never sooner than 15 min


def test_a_backoff_survives_a_reset_through_its_state():
    gate = Backoff.by_outcome()
    for _ in range(4):
        gate.failed(1000, "refused", 600000)
    failures, wait_s = gate.state(61000)
    assert failures == 4 and 540 <= wait_s <= 3600, (failures, wait_s)
    after_reset = Backoff.by_outcome()
    after_reset.restore(failures, wait_s, 0)  # a new boot: the monotonic clock starts at 0
    assert after_reset.wait_ms(0) == wait_s * 1000 and after_reset.failures == 4
    assert Backoff.by_outcome().state(0) == (0, 0)
