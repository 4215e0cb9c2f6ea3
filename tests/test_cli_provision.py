"""`tempnode provision` against the real dev cloud: device flow and password grant on the host,
the credential stored on the virtual board, and no token on the console."""

import json

from board_fixtures import board, wait_for_console  # noqa: F401 - pytest fixtures

from host_tools import provision
from host_tools.cli import main


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
