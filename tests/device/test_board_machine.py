# The simulated board's `machine`, under MicroPython: pins, the watchdog in virtual time, RTC.
import time

import machine
import resets
from devtest import raises
from machine import Pin

ENV = {"TEMPNODE_VCLOCK_STILL": "1", "TEMPNODE_PINS": '{"0": 0}'}


def test_inputs_read_the_outside_world_or_their_pull():
    button = Pin(0, Pin.IN, Pin.PULL_UP)
    assert button.value() == 0, "TEMPNODE_PINS holds pin 0 low: the safe-mode button is held"
    assert Pin(5, Pin.IN, Pin.PULL_UP).value() == 1
    assert Pin(6, Pin.IN, Pin.PULL_DOWN).value() == 0


def test_outputs_read_back_and_open_drain_releases_to_the_pull():
    led = Pin(2, Pin.OUT, value=0)
    led.on()
    assert led.value() == 1 and Pin(2, Pin.OUT).value() == 1, "the level belongs to the pin"
    led.toggle()
    assert led() == 0
    line = Pin(4, Pin.OPEN_DRAIN, Pin.PULL_UP)
    line.value(0)
    assert line.value() == 0
    line.value(1)
    assert line.value() == 1


def test_signal_from_the_port_drives_a_board_pin():
    led = Pin(2, Pin.OUT, value=0)
    inverted = machine.Signal(led, invert=True)
    inverted.on()
    assert led.value() == 0
    inverted.off()
    assert led.value() == 1


def test_watchdog_fed_in_time_lets_the_board_run():
    wdt = machine.WDT(timeout=8000)
    for _ in range(100):  # 700 s of virtual time
        time.sleep_ms(7000)
        wdt.feed()
    time.set_alarm(None, None)


def test_watchdog_not_fed_resets_the_board_when_its_time_is_up():
    start = time.ticks_ms()
    wdt = machine.WDT(timeout=3000)
    time.sleep_ms(2000)
    wdt.feed()
    with raises(SystemExit) as r:
        time.sleep_ms(60000)  # a sleep past the deadline ends at the reset, not after it
    assert r.value.args[0] == resets.exit_status(resets.WDT_RESET)
    time.set_alarm(None, None)
    assert time.ticks_diff(time.ticks_ms(), start) == 5000


def test_watchdog_longer_than_the_board_allows_is_refused():
    with raises(ValueError) as r:
        machine.WDT(timeout=10000)
    assert "8388" in str(r.value)


def test_rtc_memory_holds_the_board_size_and_no_more():
    rtc = machine.RTC()
    assert rtc.memory() == b""
    rtc.memory(b"\x01\x02")
    assert rtc.memory() == b"\x01\x02"
    with raises(ValueError):
        rtc.memory(bytes(2049))
    assert machine.reset_cause() == machine.PWRON_RESET


def test_rtc_datetime_sets_the_clock_time_reads():
    rtc = machine.RTC()
    rtc.datetime((2027, 1, 15, 4, 12, 30, 0, 0))
    assert time.gmtime()[:6] == (2027, 1, 15, 12, 30, 0)
    year, month, day, weekday, hours, minutes, seconds, _ = rtc.datetime()
    assert (year, month, day, hours, minutes) == (2027, 1, 15, 12, 30)


def test_port_machine_functions_are_still_there():
    assert machine.mem8 is not None and callable(machine.idle)
    assert len(machine.unique_id()) == 6
    assert machine.freq() == 240000000
