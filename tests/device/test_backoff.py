# The one backoff policy: full jitter under an exponential ceiling, Retry-After, cap, reset.
from tempnode.backoff import Backoff


def waits(backoff, failures, now=0, retry_after=None):
    return [backoff.failed(now, retry_after) for _ in range(failures)]


def test_each_wait_is_random_below_a_doubling_ceiling_up_to_the_cap():
    ceilings = (1000, 2000, 4000, 8000, 10000, 10000)
    for _ in range(200):
        w = waits(Backoff(1000, 10000), 6)
        assert all(0 <= w[i] <= ceilings[i] for i in range(6)), w


def test_the_jitter_spreads_over_the_whole_range():
    samples = [Backoff(1000, 60000).failed(0) for _ in range(300)]
    assert min(samples) < 150 and max(samples) > 850, (min(samples), max(samples))


def test_retry_after_is_a_floor_but_still_capped():
    assert Backoff(1000, 60000).failed(0, 30000) >= 30000
    assert Backoff(1000, 60000).failed(0, 3600000) == 60000


def test_wait_counts_down_on_the_monotonic_clock_and_success_resets():
    b = Backoff(1000, 60000)
    b.failed(5000, 10000)
    assert b.wait_ms(6000) == 9000 and b.wait_ms(15000) == 0
    b.succeeded()
    assert b.failures == 0 and b.wait_ms(5000) == 0


def test_a_floor_makes_a_slow_rate():
    for _ in range(100):
        assert 900000 <= Backoff(900000, 21600000, 900000).failed(0) <= 900000
    b = Backoff(900000, 21600000, 900000)
    assert all(900000 <= w <= 21600000 for w in waits(b, 10))
