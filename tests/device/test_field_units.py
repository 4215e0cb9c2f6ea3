# Safe mode, boot state and the status LED, under MicroPython on the simulated board's machine.
import os

import machine
from tempnode import safe_mode
from tempnode.boot_state import BootState
from tempnode.status_led import PATTERNS, StatusLed

# Pin 0 is held low (a pressed button); pin 7 is left to its pull-up (a released one).
ENV = {"TEMPNODE_VCLOCK_STILL": "1", "TEMPNODE_PINS": '{"0": 0}'}
HELD = {"pins": {"safe_mode_button": 0}}
RELEASED = {"pins": {"safe_mode_button": 7}}
LED = 2


def _state(rtc_bytes=2048):
    return BootState(rtc_bytes)


def test_the_button_held_enters_safe_mode_without_counting_a_quick_reboot():
    state = _state()
    assert safe_mode.enter_reason(HELD, state) == "the safe-mode button was held at boot"
    assert state.quick_reboots == 0
    assert _state().quick_reboots == 0


def test_the_fifth_quick_reboot_enters_safe_mode_and_starts_the_count_again():
    reasons = [safe_mode.enter_reason(RELEASED, _state()) for _ in range(5)]
    assert reasons == [None, None, None, None, "5 quick reboots in a row"], reasons
    assert _state().quick_reboots == 0
    assert safe_mode.enter_reason(RELEASED, _state()) is None
    assert _state().quick_reboots == 1


def test_a_stable_logger_clears_the_count():
    for _ in range(4):
        safe_mode.enter_reason(RELEASED, _state())
    state = _state()
    assert state.quick_reboots == 4
    safe_mode.mark_stable(state)
    assert _state().quick_reboots == 0
    assert safe_mode.enter_reason(RELEASED, _state()) is None  # 1, not 5


def test_boot_state_lives_in_rtc_memory_where_the_board_has_it():
    state = _state()
    state.quick_reboots = 3
    state.wakes = 700
    state.save()
    assert "boot_state.bin" not in os.listdir()
    assert machine.RTC().memory() != b""
    again = _state()
    assert (again.quick_reboots, again.wakes) == (3, 700)


def test_boot_state_falls_back_to_a_file_without_rtc_memory():
    state = _state(rtc_bytes=0)
    assert (state.quick_reboots, state.wakes) == (0, 0)
    state.quick_reboots = 2
    state.save()
    assert "boot_state.bin" in os.listdir()
    assert machine.RTC().memory() == b""
    assert _state(rtc_bytes=0).quick_reboots == 2
    assert _state().quick_reboots == 0  # the RTC memory copy is a different store


def test_boot_state_ignores_memory_it_did_not_write():
    machine.RTC().memory(b"\x00\x01garbage")
    assert _state().quick_reboots == 0


def test_boot_state_counts_saturate_instead_of_wrapping():
    state = _state()
    state.quick_reboots = 300
    state.wakes = 70000
    state.save()
    again = _state()
    assert (again.quick_reboots, again.wakes) == (255, 65535)


class RecordingClock:
    """A clock whose sleeps record the LED's level and how long it was held."""

    def __init__(self):
        self.pin = machine.Pin(LED, machine.Pin.OUT)
        self.steps = []

    def sleep_ms(self, ms):
        self.steps.append((self.pin.value(), ms))


def _pins(active_low=False):
    return {"status_led": LED, "status_led_active_low": active_low, "status_led_kind": "gpio"}


def test_each_pattern_drives_its_blinks_and_ends_dark():
    led = StatusLed(_pins())
    for state, (on_ms, off_ms, repeats, _colour) in PATTERNS.items():
        clock = RecordingClock()
        led.show(state, clock)
        assert clock.steps == [(1, on_ms), (0, off_ms)] * repeats, (state, clock.steps)
        assert clock.pin.value() == 0, state
    expected = {"ok": 1, "no_wifi": 2, "no_cloud": 3, "sensor_fault": 4, "config_error": 5}
    for state, blinks in expected.items():
        assert PATTERNS[state][2] == blinks, state
    assert PATTERNS["config_error"][0] == 60 and PATTERNS["sensor_fault"][0] == 120
    assert max((on + off) * n for on, off, n, _ in PATTERNS.values()) <= 1200


def test_an_active_low_led_is_driven_inverted():
    clock = RecordingClock()
    led = StatusLed(_pins(active_low=True))
    assert clock.pin.value() == 1, "off is high on an active-low LED"
    led.show("no_wifi", clock)
    assert clock.steps == [(0, 120), (1, 120)] * 2, clock.steps
    led.safe_mode()
    assert clock.pin.value() == 0


def test_safe_mode_is_steady_on():
    clock = RecordingClock()
    led = StatusLed(_pins())
    assert clock.pin.value() == 0
    led.safe_mode()
    assert clock.pin.value() == 1
    led.off()
    assert clock.pin.value() == 0
