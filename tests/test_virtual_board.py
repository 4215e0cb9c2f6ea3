"""The virtual board behaves like a MicroPython board on a USB serial port, for real mpremote."""

import subprocess
import sys
import time

from board_fixtures import board  # noqa: F401 - pytest fixture

from host_tools.interrupt_line import SIGNAL_AFTER_S

MPREMOTE = [sys.executable, "-m", "mpremote"]


def mpremote(port, *args):
    return subprocess.run(
        MPREMOTE + ["connect", port, *args], capture_output=True, text=True, timeout=60
    )


def test_mpremote_runs_code_and_copies_files(board, tmp_path):  # noqa: F811
    out = mpremote(board.port, "exec", "print(6 * 7)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "42"
    source = tmp_path / "hello.txt"
    source.write_text("hello board")
    assert mpremote(board.port, "resume", "fs", "cp", str(source), ":hello.txt").returncode == 0
    assert (board.workdir / "hello.txt").read_text() == "hello board"
    again = mpremote(board.port, "resume", "fs", "cp", str(source), ":hello.txt")
    assert "Up to date: hello.txt" in again.stdout


def test_soft_reset_restarts_the_process_and_says_soft_reboot(board):  # noqa: F811
    boots = board.boots
    assert mpremote(board.port, "soft-reset").returncode == 0
    assert board.boots == boots + 1
    assert b"MPY: soft reboot\r\n" in board.console
    # The REPL after the reboot answers.
    assert mpremote(board.port, "resume", "exec", "print('alive')").stdout.strip() == "alive"


def test_ctrl_c_interrupts_a_running_program(board):  # noqa: F811
    loop = "import time\nwhile True:\n    time.sleep_ms(10)"
    assert mpremote(board.port, "resume", "exec", "--no-follow", loop).returncode == 0
    time.sleep(0.3)
    started = time.monotonic()
    out = mpremote(board.port, "resume", "exec", "print('interrupted')")
    assert out.stdout.strip() == "interrupted", out.stderr
    assert time.monotonic() - started < 5
    assert board.boots == 1, "Ctrl-C must interrupt the program, not restart the board"


def test_ctrl_c_in_the_middle_of_garbage_collection_leaves_a_working_board(board):  # noqa: F811
    # The unix port's SIGINT handler raises KeyboardInterrupt wherever the interpreter is; in
    # the collector that left the heap locked ("heap is locked", then a fatal error and a new
    # process): the virtual board's Ctrl-C is raised at a `time` call instead, as a board's
    # is raised between bytecodes.
    collecting = "import gc, time\nwhile True:\n    gc.collect()\n    time.ticks_ms()"
    for _ in range(8):
        assert mpremote(board.port, "resume", "exec", "--no-follow", collecting).returncode == 0
        time.sleep(0.2)
        out = mpremote(board.port, "resume", "exec", "print([0] * 3)")
        assert out.stdout.strip() == "[0, 0, 0]", (out.stdout, out.stderr)
    assert board.boots == 1, bytes(board.console[-2000:]).decode(errors="replace")


def test_ctrl_c_stops_code_that_never_reads_the_time(board):  # noqa: F811
    assert (
        mpremote(board.port, "resume", "exec", "--no-follow", "while True: pass").returncode == 0
    )
    time.sleep(0.3)
    started = time.monotonic()
    out = mpremote(board.port, "resume", "exec", "print('interrupted')")
    assert out.stdout.strip() == "interrupted", out.stderr
    assert time.monotonic() - started < SIGNAL_AFTER_S + 3
    assert board.boots == 1


def test_console_output_has_crlf_line_ends_like_a_real_port(board):  # noqa: F811
    mpremote(board.port, "resume", "exec", "print('a')\nprint('b')")
    assert b"a\r\nb\r\n" in board.console
    assert b"\r\r\n" not in board.console
