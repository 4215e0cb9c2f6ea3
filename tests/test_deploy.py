"""`tempnode deploy` on the virtual board: changed files only, atomic, refuses what cannot run."""

import json

import pytest
from board_fixtures import (  # noqa: F401 - pytest fixtures
    CLIENT_SECRET,
    board,
    ca_pem,
    device_folder,
    wait_for_console,
)
from mpremote.transport import Transport, TransportError

from host_tools import deploy, device
from host_tools.cli import main
from host_tools.device import Board, connect
from host_tools.errors import UserError
from host_tools.virtual_board import VirtualBoard


def deploy_cli(folder, port):
    return main(["deploy", "--dir", str(folder), "--port", port])


def test_first_deploy_copies_everything_second_copies_nothing(board, device_folder, capsys):  # noqa: F811
    assert deploy_cli(device_folder, board.port) == 0
    first = capsys.readouterr().out
    assert "0 unchanged" in first
    files = board.workdir
    assert (files / "tempnode" / "config.mpy").exists()
    assert json.loads((files / "config.json").read_text())["device_id"] == "logger-01"
    assert json.loads((files / "secrets.json").read_text())["client_secret"] == CLIENT_SECRET
    assert (files / "ca.der").read_bytes() == (device_folder / "ca.der").read_bytes()
    assert not list(files.rglob("*.tmp"))
    assert wait_for_console(board, b"MPY: soft reboot"), "deploy ends with a soft reset"

    assert deploy_cli(device_folder, board.port) == 0
    second = capsys.readouterr().out
    assert ": 0 copied (0 B)" in second, second


def test_only_the_changed_config_is_copied(board, device_folder, capsys):  # noqa: F811
    deploy_cli(device_folder, board.port)
    config = json.loads((device_folder / "config.json").read_text())
    config["sample_interval_s"] = 30
    (device_folder / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert deploy_cli(device_folder, board.port) == 0
    out = capsys.readouterr().out
    assert "[1/1] config.json" in out and ": 1 copied" in out, out
    assert json.loads((board.workdir / "config.json").read_text())["sample_interval_s"] == 30


def test_interrupted_deploy_leaves_the_previous_config_intact(
    board,  # noqa: F811
    device_folder,  # noqa: F811
    monkeypatch,
):
    deploy_cli(device_folder, board.port)
    before = (board.workdir / "config.json").read_bytes()
    config = json.loads((device_folder / "config.json").read_text())
    config["sample_interval_s"] = 5
    (device_folder / "config.json").write_text(json.dumps(config))

    real_write = Transport.fs_writefile

    def cable_pulled_half_way(self, dest, data, **kwargs):
        real_write(self, dest, data[: len(data) // 2], **kwargs)
        raise TransportError("device disconnected")

    monkeypatch.setattr(Transport, "fs_writefile", cable_pulled_half_way)
    with pytest.raises(UserError, match="lost the board .* while copying"):
        deploy.deploy(device_folder, board.port)
    assert (board.workdir / "config.json").read_bytes() == before
    monkeypatch.undo()
    # The next deploy finishes the job and clears the half-written temporary.
    assert deploy_cli(device_folder, board.port) == 0
    assert json.loads((board.workdir / "config.json").read_text())["sample_interval_s"] == 5
    assert not list(board.workdir.rglob("*.tmp"))


def test_credential_is_never_touched_and_secrets_never_enter_the_bundle(board, device_folder):  # noqa: F811
    (board.workdir / "credential.json").write_text('{"kind": "refresh_token"}')
    deploy.deploy(device_folder, board.port)
    assert (board.workdir / "credential.json").read_text() == '{"kind": "refresh_token"}'
    for path in (board.workdir / "tempnode").rglob("*"):
        assert CLIENT_SECRET.encode() not in path.read_bytes()
    bundle = [("tempnode/oops.mpy", b"...cs-7f3a9d2e-never-print...")]
    with pytest.raises(UserError, match="tempnode/oops.mpy contains a value from secrets.json"):
        deploy.refuse_secrets_in_bundle(bundle, {"client_secret": CLIENT_SECRET})


def test_a_board_of_another_port_is_refused(board, tmp_path, ca_pem):  # noqa: F811
    from board_fixtures import init_args

    folder = tmp_path / "esp"
    assert main(init_args(folder, ca_pem, board="esp32-devkitc")) == 0
    with pytest.raises(
        UserError, match="runs MicroPython for linux, but esp32-devkitc is a esp32"
    ):
        deploy.deploy(folder, board.port)


class FakeBoard(Board):
    def __init__(self, facts):
        self.port = "/dev/ttyUSB0"
        self._facts = facts

    def facts(self):
        return self._facts


def test_a_micropython_with_another_mpy_version_is_refused():
    esp32 = {"name": "esp32-devkitc", "port": "esp32", "mpy_version": "6.3"}
    FakeBoard(("esp32", (1, 24, 1), "6.3")).check_runs(esp32)
    with pytest.raises(UserError) as err:
        FakeBoard(("esp32", (1, 19, 1), "6.0")).check_runs(esp32)
    assert str(err.value) == (
        "the board on /dev/ttyUSB0 runs MicroPython 1.19.1 (mpy v6.0) but this build needs "
        "mpy v6.3: update it with `tempnode flash-micropython`"
    )


def test_the_virtual_board_reports_its_real_facts(board):  # noqa: F811
    with connect(board.port) as b:
        platform, version, mpy = b.facts()
    assert platform == "linux" and mpy == "6.3" and version[0] == 1


def test_missing_busy_and_silent_ports_are_one_line_errors(board, tmp_path, monkeypatch):  # noqa: F811
    assert main(["status", "--dir", str(tmp_path), "--port", "/dev/ttyNOPE"]) == 2
    with pytest.raises(UserError, match="no serial port /dev/ttyNOPE: plug the board in"):
        device.open_serial("/dev/ttyNOPE")
    with pytest.raises(UserError, match="/dev/null is not a serial port: name the board's port"):
        device.open_serial("/dev/null")
    holder = device.open_serial(board.port)
    try:
        with pytest.raises(UserError, match=f"{board.port} is busy: another program"):
            device.open_serial(board.port)
    finally:
        holder.close()
    monkeypatch.setattr(device, "REPL_TIMEOUT_S", 1)
    with VirtualBoard(tmp_path / "silent") as silent:
        silent.command = lambda: (["sleep", "60"], {})
        silent._kill()  # the next start is the silent process
        with pytest.raises(UserError, match="no MicroPython REPL answered on .*flash-micropython"):
            with connect(silent.port):
                pass


def test_port_auto_picks_the_only_board_or_lists_them(monkeypatch):
    monkeypatch.setattr(device, "usb_ports", lambda: [])
    with pytest.raises(UserError, match="no board found on USB"):
        device.resolve_port("auto")
    monkeypatch.setattr(device, "usb_ports", lambda: ["/dev/ttyACM0"])
    assert device.resolve_port("auto") == "/dev/ttyACM0"
    monkeypatch.setattr(device, "usb_ports", lambda: ["/dev/ttyACM0", "/dev/ttyUSB0"])
    with pytest.raises(UserError, match=r"2 boards connected \(/dev/ttyACM0, /dev/ttyUSB0\)"):
        device.resolve_port("auto")
