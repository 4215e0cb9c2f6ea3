"""The simulated board as a process: boot ROM, resets and their exit statuses, RTC memory,
the watchdog, power cuts at a chosen flash write, and Wi-Fi outages seen through sockets."""

import json
import signal
import socket
import ssl
import threading
import time

import pytest
from host_board import Board, resets

from host_tools.cloud.tls import ensure_certificates, server_context


@pytest.fixture
def board(tmp_path):
    return Board(tmp_path)


def test_boot_py_then_main_py_run_then_the_repl_shares_their_names(board):
    board.install(
        {
            "boot.py": "print('boot ran'); booted = 1\n",
            "main.py": "import os\nprint('main after boot:', booted, os.getcwd())\nlast = 42\n",
        }
    )
    done = board.boot(repl="print('repl sees', last)\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.index("boot ran") < out.index("main after boot: 1 /") < out.index("repl sees 42")


def test_files_on_flash_persist_across_boots(board):
    board.install(
        {
            "main.py": (
                "try:\n    n = int(open('count').read())\nexcept OSError:\n    n = 0\n"
                "f = open('count', 'w'); f.write(str(n + 1)); f.close()\n"
                "print('boot number', n + 1)\n"
            )
        }
    )
    for n in (1, 2, 3):
        assert f"boot number {n}" in board.boot().stdout
    assert board.stats()["boots"] == 4


def test_an_exception_in_main_is_printed_and_the_repl_follows(board):
    board.install({"main.py": "print('starting')\nraise ValueError('bad config')\n"})
    done = board.boot(repl="print('at the repl')\n")
    assert "ValueError: bad config" in done.stdout + done.stderr
    assert "at the repl" in done.stdout
    assert done.returncode == 0


@pytest.mark.parametrize(
    "call, cause",
    [("machine.reset()", resets.HARD_RESET), ("machine.soft_reset()", resets.SOFT_RESET)],
)
def test_resets_exit_with_their_status_and_the_next_boot_knows_why(board, call, cause):
    board.install(
        {"main.py": "import machine\nprint('cause', machine.reset_cause())\n" + call + "\n"}
    )
    first = board.boot()
    assert "cause 5" in first.stdout, "the install session ended at the REPL: a soft reset"
    assert first.returncode == resets.exit_status(cause)
    assert f"cause {cause}" in board.boot().stdout


def test_sys_exit_in_main_is_a_soft_reset(board):
    board.install({"main.py": "import sys\nsys.exit()\n"})
    assert board.boot().returncode == resets.exit_status(resets.SOFT_RESET)


WATCHDOG_MAIN = """\
import machine, time
print('cause', machine.reset_cause())
if machine.reset_cause() != machine.WDT_RESET:
    wdt = machine.WDT(timeout=2000)
    time.sleep_ms(1500)
    wdt.feed()
    print('fed')
    try:
        time.sleep_ms(30000)
    except BaseException:
        pass  # firmware that swallows everything still cannot outlive the reset
    f = open('zombie', 'w')
    f.write('written after the reset')
    f.close()
    print('still running')
else:
    import os
    print('zombie file:', 'zombie' in os.listdir())
"""


def test_watchdog_not_fed_resets_the_board_in_virtual_time(board):
    board.install({"main.py": WATCHDOG_MAIN})
    offset_before = board.virtual_offset_ms()
    done = board.boot()
    assert done.returncode == resets.exit_status(resets.WDT_RESET), done.stdout + done.stderr
    assert "fed" in done.stdout and "watchdog not fed for 2000 ms" in done.stdout
    assert "still running" not in done.stdout
    # 1.5 s, then 2 s until the reset: the 30 s sleep was cut short by it.
    assert board.virtual_offset_ms() - offset_before == 3500
    after = board.boot().stdout
    assert f"cause {resets.WDT_RESET}" in after and "zombie file: False" in after


RTC_MAIN = """\
import machine
rtc = machine.RTC()
print('cause', machine.reset_cause(), 'memory', rtc.memory())
if not rtc.memory():
    rtc.memory(b'kept across resets')
    machine.deepsleep(60000)
"""


def test_rtc_memory_survives_deep_sleep_and_resets_but_not_a_power_cut(board):
    board.install({"main.py": RTC_MAIN})
    offset_before = board.virtual_offset_ms()
    sleeping = board.boot()
    assert sleeping.returncode == resets.exit_status(resets.DEEPSLEEP_RESET)
    assert board.virtual_offset_ms() - offset_before == 60000, "deep sleep is virtual time"
    woke = board.boot(repl="import machine\nmachine.reset()\n")
    assert f"cause {resets.DEEPSLEEP_RESET} memory b'kept across resets'" in woke.stdout
    assert woke.returncode == resets.exit_status(resets.HARD_RESET)
    # This boot keeps RTC memory too, then loses power: killed while it waits at the REPL.
    running = board.start()
    line = running.stdout.readline()
    assert f"cause {resets.HARD_RESET} memory b'kept across resets'" in line
    running.send_signal(signal.SIGKILL)
    running.wait(timeout=10)
    running.stdout.close()
    running.stdin.close()
    after_cut = board.boot()
    assert "cause 1 memory b''" in after_cut.stdout, after_cut.stdout


WRITER_MAIN = """\
import os
def write(name, data):
    with open(name + '.tmp', 'w') as f:
        f.write(data)
    os.rename(name + '.tmp', name)
try:
    print('found', open('state').read())
except OSError:
    print('found nothing')
write('state', 'new-' * 300)
write('log', 'one-' * 200)
print('wrote')
"""


def test_power_cut_at_every_write_of_a_boot_leaves_old_or_new_files(tmp_path):
    reference = Board(tmp_path / "reference")
    reference.folder.mkdir()
    reference.install({"main.py": WRITER_MAIN, "state": "old"})
    before = reference.stats()["writes"]
    clean = reference.boot()
    assert "wrote" in clean.stdout
    writes = reference.stats()["writes"] - before
    assert writes == reference.stats()["run_writes"] >= 4
    image = reference.flash.read_bytes()
    for n in range(1, writes + 1):
        board = Board(tmp_path / f"cut{n}")
        board.folder.mkdir()
        board.flash.write_bytes(image)
        cut = board.boot(env={"TEMPNODE_POWER_CUT_AT_WRITE": str(n)})
        assert cut.returncode == resets.exit_status(resets.PWRON_RESET), cut.stdout + cut.stderr
        assert f"power cut at flash write {n}" in cut.stdout
        assert "wrote" not in cut.stdout
        assert board.stats()["run_writes"] == n - 1
        assert board.stats()["exit"] == "power_cut"
        after = board.boot(repl="import machine; print('cause', machine.reset_cause())\n")
        assert "found old" in after.stdout or "found new-new-" in after.stdout, after.stdout
        assert "cause 1" in after.stdout


def test_a_huge_watchdog_timeout_is_refused_with_the_board_limit(board):
    board.install({"main.py": "import machine\nmachine.WDT(timeout=30000)\n"})
    done = board.boot()
    assert "ValueError: WDT timeout 30000 ms: this board allows 1 to 8388 ms" in done.stdout


def test_button_level_and_led_trace(board, tmp_path):
    trace = tmp_path / "pins.trace"
    board.install(
        {
            "main.py": (
                "from machine import Pin\nimport time\n"
                "print('button', Pin(0, Pin.IN, Pin.PULL_UP).value())\n"
                "led = Pin(2, Pin.OUT)\nfor _ in range(2):\n"
                "    led.on(); time.sleep_ms(120); led.off(); time.sleep_ms(120)\n"
            )
        }
    )
    assert "button 1" in board.boot().stdout
    held = board.boot(
        env={
            "TEMPNODE_PINS": '{"0": 0}',
            "TEMPNODE_PIN_TRACE": str(trace),
            "TEMPNODE_VCLOCK_STILL": "1",  # only sleeps move time: exact durations
        }
    )
    assert "button 0" in held.stdout
    events = [line.split() for line in trace.read_text().splitlines()]
    assert [(pin, level) for _, pin, level in events] == [("2", "1"), ("2", "0")] * 2
    times = [int(t) for t, _, _ in events]
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [120, 120, 120]


class EchoServer:
    """Echoes one line per connection, plain or TLS, on 127.0.0.1."""

    def __init__(self, context=None):
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            try:
                if self.context:
                    conn = self.context.wrap_socket(conn, server_side=True)
                conn.sendall(b"echo " + conn.recv(100))
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()


OUTAGE_MAIN = """\
import errno, network, socket, time, tls
def echo(port, secure):
    s = socket.socket()
    s.settimeout(5)
    s.connect(socket.getaddrinfo('127.0.0.1', port)[0][-1])
    if secure:
        ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(open(CA, 'rb').read())
        s = ctx.wrap_socket(s, server_hostname='localhost')
    s.write(b'hi')
    reply = s.read(20)
    s.close()
    return reply
def attempt(label):
    try:
        print(label, echo(PLAIN, False), echo(SECURE, True))
    except OSError as e:
        print(label, 'failed', errno.errorcode.get(e.errno, e.errno))
wlan = network.WLAN(network.STA_IF)
wlan.active(True)
wlan.connect('lab', 'pw')
while not wlan.isconnected():
    time.sleep_ms(100)
attempt('before')
time.sleep(100)
attempt('during')
time.sleep(300)
while not wlan.isconnected():
    time.sleep_ms(500)
attempt('after')
"""


def test_wifi_outage_fails_sockets_and_tls_then_they_work_again(tmp_path):
    paths = ensure_certificates(tmp_path / "certs")
    plain = EchoServer()
    secure = EchoServer(server_context(paths))
    board = Board(
        tmp_path,
        scenario={
            "wifi": [{"ssid": "lab", "password": "pw", "rssi": -50}],
            "wifi_outages": [{"from_s": 60, "to_s": 400}],
        },
    )
    ca = "/host" + str(paths.ca_der)  # the host's files, read-only on the board
    main = f"PLAIN = {plain.port}\nSECURE = {secure.port}\nCA = {ca!r}\n" + OUTAGE_MAIN
    board.install({"main.py": main})
    started = time.monotonic()
    done = board.boot()
    out = done.stdout + done.stderr
    assert "before b'echo hi' b'echo hi'" in out, out
    assert "during failed EHOSTUNREACH" in out, out
    assert "after b'echo hi' b'echo hi'" in out, out
    assert time.monotonic() - started < 10, "400 s of device time take seconds"
    json.loads(board.flash.with_name("flash.img.stats").read_text())
