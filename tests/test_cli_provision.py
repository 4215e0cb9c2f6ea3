"""`tempnode provision` against the real dev cloud: device flow and password grant on the host,
the credential stored on the virtual board, and no token on the console."""

import functools
import io
import json
import stat
import time

from board_fixtures import board, wait_for_console  # noqa: F401 - pytest fixtures

from host_tools import provision
from host_tools.cli import main
from host_tools.virtual_board import VirtualBoard


def folder_for(dev_cloud, tmp_path, profile, device):
    folder = tmp_path / "dev"
    args = ["init", "--dir", str(folder), "--board", "host", "--device-id", "logger-01"]
    args += ["--wifi", "home=wifi-pass-123", "--profile", profile]
    args += ["--base-url", dev_cloud.base_url, "--client-id", device["client_id"]]
    args += ["--client-secret", device["client_secret"], "--ca", str(dev_cloud.ca_pem_path)]
    assert main(args) == 0
    return folder


def test_device_flow_on_the_host_stores_a_refresh_token_on_the_board(
    dev_cloud,
    board,  # noqa: F811
    tmp_path,
    capsys,
):
    device = dev_cloud.admin.create_device("logger-01", profile="oauth2", provision=False)
    folder = folder_for(dev_cloud, tmp_path, "oauth2", device)
    config, secrets = provision.load_folder(folder)
    cloud = provision.Cloud(folder, config, secrets)
    shown = []
    polls = []

    def person_approves_while_we_wait(seconds):
        polls.append(seconds)
        if len(polls) == 2:  # the first poll finds it pending
            user_code = shown[0].split("enter the code ")[1].split()[0]
            dev_cloud.admin.approve(user_code)

    credential = provision.via_device_flow(
        cloud, out=shown.append, sleep=person_approves_while_we_wait
    )
    assert shown[0].startswith("open https://localhost:")
    assert credential["kind"] == "refresh_token" and credential["refresh_token"]
    assert len(polls) == 2
    with provision.connect(board.port) as b:
        provision.store(b, credential)
    stored = json.loads((board.workdir / "credential.json").read_text())
    assert stored == credential
    printed = "".join(capsys.readouterr()) + "".join(shown)
    assert credential["refresh_token"] not in printed


def test_a_denied_device_flow_is_a_clear_error(dev_cloud, tmp_path):
    device = dev_cloud.admin.create_device("logger-01", profile="oauth2", provision=False)
    folder = folder_for(dev_cloud, tmp_path, "oauth2", device)
    cloud = provision.Cloud(folder, *provision.load_folder(folder))
    shown = []

    def person_denies(seconds):
        dev_cloud.admin.deny(shown[0].split("enter the code ")[1].split()[0])

    try:
        provision.via_device_flow(cloud, out=shown.append, sleep=person_denies)
    except provision.UserError as exc:
        assert str(exc).startswith("the cloud refused: access_denied")
    else:
        raise AssertionError("a denied code must not give a credential")


def test_spark2014_password_grant_happens_on_the_host_only(dev_cloud, tmp_path):
    device = dev_cloud.admin.create_device("logger-01", profile="spark2014", provision=False)
    # Every Spark 2014 device logged in through the shared client spark:spark.
    shared = dict(device, client_id="spark", client_secret="spark")
    folder = folder_for(dev_cloud, tmp_path, "spark2014", shared)
    cloud = provision.Cloud(folder, *provision.load_folder(folder))
    credential = provision.via_password(
        cloud, ask=lambda prompt: device["password"], read=lambda prompt: device["username"]
    )
    assert credential["kind"] == "access_token" and credential["access_token"]
    assert device["password"] not in json.dumps(credential)
    wrong = provision.Cloud(folder, *provision.load_folder(folder))
    try:
        provision.via_password(wrong, ask=lambda p: "wrong", read=lambda p: device["username"])
    except provision.UserError as exc:
        assert "invalid_grant" in str(exc)
    else:
        raise AssertionError("a wrong password must be refused")


def test_a_missing_board_is_said_before_anyone_is_asked_to_approve(dev_cloud, tmp_path, capsys):
    device = dev_cloud.admin.create_device("logger-01", profile="oauth2", provision=False)
    folder = folder_for(dev_cloud, tmp_path, "oauth2", device)
    started = time.monotonic()
    assert main(["provision", "--dir", str(folder), "--port", "/dev/ttyNOPE"]) == 2
    assert time.monotonic() - started < 1.0
    err = capsys.readouterr().err.strip()
    assert (
        err
        == "tempnode: error: no serial port /dev/ttyNOPE: plug the board in, or use --port auto"
    )
    assert dev_cloud.admin.events("logger-01", kind="device_code") == []


def test_an_approval_outlives_a_board_unplugged_during_the_flow(
    dev_cloud, tmp_path, capsys, monkeypatch
):
    """The person approved; the board went away meanwhile: the credential waits in the
    folder (mode 600) and `--via paste` stores it once the board is back."""
    device = dev_cloud.admin.create_device("logger-01", profile="oauth2", provision=False)
    folder = folder_for(dev_cloud, tmp_path, "oauth2", device)
    first = VirtualBoard(tmp_path / "board-fs").start()

    def person_approves_and_the_cable_is_pulled(seconds):
        shown = capsys.readouterr().out
        dev_cloud.admin.approve(shown.split("enter the code ")[1].split()[0])
        first.stop()

    waiting = functools.partial(
        provision.via_device_flow, sleep=person_approves_and_the_cable_is_pulled
    )
    monkeypatch.setattr(provision, "via_device_flow", waiting)
    assert main(["provision", "--dir", str(folder), "--port", first.port]) == 2
    kept = folder / "credential.json"
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        f"the credential is kept in {kept}: store it with `tempnode provision --dir {folder} "
        f"--via paste < {kept}`"
    ), err
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    credential = json.loads(kept.read_text())
    assert credential["kind"] == "refresh_token" and credential["refresh_token"] not in err
    with VirtualBoard(tmp_path / "board-fs") as again:
        monkeypatch.setattr(provision.sys, "stdin", io.StringIO(kept.read_text()))
        args = ["provision", "--dir", str(folder), "--port", again.port, "--via", "paste"]
        assert main(args) == 0
        assert json.loads((again.workdir / "credential.json").read_text()) == credential
