# The clock seam under the simulated board's virtual time, ticks starting 5 s before they wrap.
import time

from tempnode.clock import Clock, port_epoch_offset

ENV = {"TEMPNODE_TICKS_START": "1073736824"}  # 2**30 - 5000

HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS


def test_monotonic_count_survives_the_ticks_wrap():
    clock = Clock()
    start_ticks = time.ticks_ms()
    for _ in range(10 * 24):
        clock.sleep_ms(HOUR_MS)
        clock.monotonic_ms()
    assert time.ticks_ms() < start_ticks, "virtual ticks were expected to wrap"
    elapsed = clock.monotonic_ms()
    assert 10 * DAY_MS <= elapsed < 10 * DAY_MS + 1000, elapsed


def test_wall_time_is_unknown_until_set_then_follows_the_monotonic_count():
    clock = Clock()
    assert not clock.wall_known()
    assert clock.wall_time() is None
    before = clock.monotonic_ms()
    clock.set_wall_time(1800000000, "http-date")
    clock.sleep_ms(90 * 1000)
    assert clock.wall_source == "http-date"
    assert clock.wall_time() in (1800000090, 1800000091)
    assert clock.to_wall(before) in (1800000000, 1799999999)


def test_unix_port_counts_from_1970():
    assert port_epoch_offset() == 0
