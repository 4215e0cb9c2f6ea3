"""logs, status, set-time, provision and run against the virtual board; and a scan of everything
the CLI printed for the secrets it handled."""

import io
import json

import pytest
from board_fixtures import (  # noqa: F401 - pytest fixtures
    CLIENT_SECRET,
    WIFI_PASSWORD,
    Terminal,
    board,
    ca_pem,
    device_folder,
)

from host_tools import console, provision
from host_tools.cli import main
from host_tools.device import connect

REFRESH_TOKEN = "rt-91c2f0aa55e4-pasted"


def start_printing(port, lines):
    """Leave a program running on the board that prints `lines` (after `logs` has opened the
    port: opening a serial port discards what came before), one every 50 ms."""
    # utime: real time (the simulated board's `time` is virtual: its sleeps take no time).
    code = "import utime\nutime.sleep_ms(300)\n"
    code += "for line in %r:\n    print(line)\n    utime.sleep_ms(50)\n" % (lines,)
    with connect(port) as b:
        b.transport.exec_raw_no_follow(code)


def test_logs_relays_the_console_without_resetting_and_masks_secrets(board, device_folder):  # noqa: F811
    start_printing(board.port, ["reading 1", f"oops wifi={WIFI_PASSWORD}", "reading 2"])
    out = io.BytesIO()
    console.follow(board.port, device_folder, seconds=1.5, out=out)
    text = out.getvalue().decode()
    assert "reading 1\r\n" in text and "reading 2\r\n" in text
    assert "oops wifi=[secret]" in text
    assert WIFI_PASSWORD not in text
    assert board.boots == 1, "logs must not reset the board"


def test_masker_catches_a_secret_split_across_reads():
    masker = console.Masker([b"topsecret"])
    shown = masker.feed(b"a tops") + masker.feed(b"ecret b") + masker.flush()
    assert shown == b"a [secret] b"
    # A line is shown when it ends, not held until more output comes.
    assert masker.feed(b"tempnode: Wi-Fi joined home\r\n") == b"tempnode: Wi-Fi joined home\r\n"
    assert masker.feed(b"sent top") == b"sent " and masker.flush() == b"top"


def test_status_without_the_firmware_says_what_to_do(board, tmp_path, capsys):  # noqa: F811
    assert main(["status", "--dir", str(tmp_path), "--port", board.port]) == 2
    err = capsys.readouterr().err
    assert "could not give its status" in err and "tempnode deploy" in err
    assert len(err.strip().splitlines()) == 1


def test_status_table_flattens_nested_fields():
    table = provision_free_table({"wifi": {"rssi": -61, "up": True}, "spool": 3, "x": None})
    assert table.splitlines() == [
        "spool      3",
        "wifi.rssi  -61",
        "wifi.up    True",
        "x          -",
    ]


def provision_free_table(status):
    from host_tools.status import format_table

    return format_table(status)


def test_set_time_sets_the_board_clock_to_utc(board, tmp_path, capsys):  # noqa: F811
    import datetime

    assert main(["set-time", "--dir", str(tmp_path), "--port", board.port]) == 0
    out = capsys.readouterr().out
    now = datetime.datetime.now(datetime.UTC)
    assert out.startswith("board clock was ")
    assert f", now {now:%Y-%m-%d %H:}" in out, out
    with connect(board.port) as b:
        year = b.eval("__import__('time').localtime()[0]")
    assert year == now.year


def test_set_time_on_a_board_without_an_rtc_is_a_clear_error(board, tmp_path, capsys):  # noqa: F811
    with connect(board.port) as b:
        b.exec("import machine\ndel machine.RTC")  # stays so until the next reset
    assert main(["set-time", "--dir", str(tmp_path), "--port", board.port]) == 2
    assert "cannot set its clock (AttributeError" in capsys.readouterr().err


def test_provision_paste_writes_the_credential_atomically(board, device_folder, monkeypatch):  # noqa: F811
    monkeypatch.setattr("sys.stdin", io.StringIO(REFRESH_TOKEN + "\n"))
    args = ["provision", "--dir", str(device_folder), "--port", board.port, "--via", "paste"]
    assert main(args) == 0
    stored = json.loads((board.workdir / "credential.json").read_text())
    assert stored == {"kind": "refresh_token", "refresh_token": REFRESH_TOKEN}
    assert not (board.workdir / "credential.json.tmp").exists()


def test_token_replies_become_credentials_in_the_store_format():
    standard = {"access_token": "a", "refresh_token": "r", "expires_in": 60}
    assert provision.credential_from(standard) == {
        "kind": "refresh_token",
        "refresh_token": "r",
        "access_token": "a",
        "expires_in": 60,
    }
    speckle = provision.credential_from({"token": "a", "refreshToken": "r"})
    assert speckle["kind"] == "refresh_token" and speckle["refresh_token"] == "r"
    spark = provision.credential_from({"access_token": "a", "expires_in": 7776000})
    assert spark == {"kind": "access_token", "access_token": "a", "expires_in": 7776000}


def test_nothing_the_cli_prints_holds_a_secret(board, device_folder, capfd, monkeypatch):  # noqa: F811
    port = ["--dir", str(device_folder), "--port", board.port]
    monkeypatch.setattr("sys.stdin", io.StringIO(REFRESH_TOKEN + "\n"))
    results = [
        main(["validate", "--dir", str(device_folder)]),
        main(["deploy"] + port),
        main(["deploy"] + port),
        main(["provision", "--via", "paste"] + port),
        main(["status"] + port),
        main(["set-time"] + port),
        main(["run", "--seconds", "0.5"] + port),
    ]
    assert results == [0] * 7
    printed = "".join(capfd.readouterr())
    assert "deployed to" in printed
    for secret in (WIFI_PASSWORD, CLIENT_SECRET, REFRESH_TOKEN):
        assert secret not in printed
    # The board does hold them: the scan would have seen them had they leaked.
    held = (board.workdir / "secrets.json").read_text() + (
        board.workdir / "credential.json"
    ).read_text()
    assert WIFI_PASSWORD in held and CLIENT_SECRET in held and REFRESH_TOKEN in held


@pytest.mark.parametrize("via", ["device-flow", "password", "speckle", "paste", "on-device"])
def test_every_provision_way_is_offered(via):
    from host_tools.cli import make_parser

    args = make_parser().parse_args(["provision", "--via", via])
    assert args.via == via


def test_repl_is_an_interactive_terminal_on_the_board(board, tmp_path):  # noqa: F811
    import sys

    repl = Terminal(
        [sys.executable, "-m", "host_tools.cli", "repl", "--dir", str(tmp_path)]
        + ["--port", board.port]
    )
    try:
        assert repl.read_until(b"Use Ctrl-] or Ctrl-x to exit this shell")
        repl.type(b"\r")
        assert repl.read_until(b">>> ")
        repl.type(b"print(6 * 7)\r")
        assert repl.read_until(b"42\r\n")
        repl.type(b"\x1d")  # Ctrl-]: leave the terminal
        assert repl.proc.wait(timeout=15) == 0
    finally:
        repl.close()
