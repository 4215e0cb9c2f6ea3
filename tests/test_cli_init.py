"""`tempnode init` and `tempnode validate`: the wizard, its checks, the device's own messages."""

import json
import os
import stat
import subprocess
import sys

import pytest
from board_fixtures import WIFI_PASSWORD, ca_pem, device_folder, init_args  # noqa: F401

from host_tools import init_wizard
from host_tools.cli import main
from host_tools.errors import UserError
from host_tools.paths import FIRMWARE, REPO


def test_init_writes_config_secrets_600_ca_der_and_gitignore(device_folder):  # noqa: F811
    config = json.loads((device_folder / "config.json").read_text())
    assert config["board"] == "host" and config["cloud"]["ca"] == "ca.der"
    assert config["sensors"]["28ff4a1b02170346"] == {"label": "pipe", "resolution": 10}
    assert WIFI_PASSWORD not in (device_folder / "config.json").read_text()
    secrets = json.loads((device_folder / "secrets.json").read_text())
    assert secrets["wifi"] == {"home": WIFI_PASSWORD}
    assert stat.S_IMODE((device_folder / "secrets.json").stat().st_mode) == 0o600
    assert (device_folder / "ca.der").read_bytes()[:1] == b"\x30", "PEM converted to DER"
    assert "secrets.json" in (device_folder / ".gitignore").read_text().splitlines()


def test_init_refuses_to_overwrite_without_force(device_folder, ca_pem, capsys):  # noqa: F811
    before = (device_folder / "secrets.json").read_bytes()
    assert main(init_args(device_folder, ca_pem)) == 2
    assert "already exists: use --force" in capsys.readouterr().err
    assert (device_folder / "secrets.json").read_bytes() == before
    assert main(init_args(device_folder, ca_pem, device_id="logger-02") + ["--force"]) == 0
    assert json.loads((device_folder / "config.json").read_text())["device_id"] == "logger-02"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"device_id": "my logger"}, 'device_id is "my logger", expected 1-32 letters'),
        ({"base_url": "http://x.example"}, "expected https:// (or set cloud.insecure_http"),
        ({"board": "esp99"}, 'board is "esp99", expected one of esp32-devkitc'),
        ({"sample_interval": "0"}, "sample_interval_s is 0, expected whole seconds"),
    ],
)
def test_a_bad_answer_is_refused_and_nothing_is_written(tmp_path, ca_pem, change, message, capsys):  # noqa: F811
    folder = tmp_path / "dev"
    assert main(init_args(folder, ca_pem, **change)) == 2
    assert message in capsys.readouterr().err
    assert not folder.exists()


def test_esp8266_needs_the_explicit_tls_opt_out(tmp_path, ca_pem, capsys):  # noqa: F811
    folder = tmp_path / "esp8266"
    assert main(init_args(folder, ca_pem, board="nodemcu-esp8266")) == 2
    assert "cloud.insecure_tls is false, expected true" in capsys.readouterr().err
    assert main(init_args(folder, ca_pem, board="nodemcu-esp8266") + ["--insecure-tls"]) == 0


def test_the_interactive_wizard_asks_again_after_a_wrong_answer(tmp_path, ca_pem, monkeypatch):  # noqa: F811
    answers = iter(
        ["pico", "pico-w", "", "logger 7", "logger-7", "barn", "", "oauth2"]
        + ["ftp://cloud", "https://cloud.example", "tempnode", str(ca_pem)]
        + ["28ff4a1b02170345", "tank", "", "", ""]
    )
    prompts = []

    def fake_input(prompt):
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", fake_input)
    monkeypatch.setattr(init_wizard.getpass, "getpass", lambda prompt: "barn-password")
    monkeypatch.setattr(init_wizard.sys.stdin, "isatty", lambda: True)
    assert main(["init", "--dir", str(tmp_path / "dev")]) == 0
    assert sum(p.startswith("Board") for p in prompts) == 2
    assert sum(p.startswith("Device id") for p in prompts) == 2
    assert sum(p.startswith("Cloud base URL") for p in prompts) == 2
    config = json.loads((tmp_path / "dev" / "config.json").read_text())
    assert config["board"] == "pico-w" and config["device_id"] == "logger-7"
    assert config["wifi"] == [{"ssid": "barn"}]
    secrets = json.loads((tmp_path / "dev" / "secrets.json").read_text())
    assert secrets["wifi"] == {"barn": "barn-password"}


def test_validate_reports_every_problem_and_exits_2(device_folder, capsys):  # noqa: F811
    assert main(["validate", "--dir", str(device_folder)]) == 0
    config = json.loads((device_folder / "config.json").read_text())
    config["upload"]["batch_size"] = 0
    config["wifi"].append({"ssid": "barn"})
    (device_folder / "config.json").write_text(json.dumps(config))
    os.chmod(device_folder / "secrets.json", 0o644)
    (device_folder / "ca.der").write_text("-----BEGIN CERTIFICATE-----\n")
    capsys.readouterr()
    assert main(["validate", "--dir", str(device_folder)]) == 2
    err = capsys.readouterr().err.splitlines()
    board = "tempnode: CONFIG ERROR: "  # the lines as the board prints them at boot
    assert err[:4] == [
        board + "config.json: upload.batch_size is 0, expected a whole number from 1 to 200",
        board + 'secrets.json: wifi has no password for "barn", expected "wifi": '
        '{"barn": "<password>"} ("" for an open network)',
        board + f"secrets.json: readable by other users (mode 644), expected 600: chmod 600 "
        f"{device_folder / 'secrets.json'}",
        board + "ca.der is PEM, expected DER: convert it with `tempnode init --ca ca.der`",
    ]
    assert (
        err[4]
        == f"tempnode: error: {device_folder} has 4 problems (listed above): fix them and retry"
    )


DEVICE_CHECK = """
import json, sys
sys.path.insert(0, %r)
from tempnode import config
with open(%r) as f:
    cfg = json.load(f)
boards = {"host": {"name": "host", "verified_tls": True}}
for p in config.check(cfg, boards):
    print(p)
"""


def test_host_and_device_print_the_same_messages(tmp_path):
    from host_tools.validate import config_schema

    bad = {
        "device_id": "x" * 40,
        "board": "host",
        "wifi": [{"ssid": "home", "password": "oops"}],
        "cloud": {"profile": "usergrid", "base_url": "http://c", "client_id": " id"},
        "sensors": {"28FF": {"label": "a"}, "28ff4a1b02170345": {"resolution": 8}},
        "upload": {"batch_size": 1000, "intervall_s": 3},
        "deep_sleep": {"enabled": "yes"},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(bad))
    script = tmp_path / "check.py"
    script.write_text(DEVICE_CHECK % (str(FIRMWARE), str(path)))
    micropython = REPO / ".venv" / "bin" / "micropython"
    device = subprocess.run(
        [str(micropython) if micropython.exists() else "micropython", str(script)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    host = config_schema().check(bad, {"host": {"name": "host", "verified_tls": True}})
    assert device == host
    assert len(host) >= 10, host
    assert sys.implementation.name == "cpython"


def test_a_pasted_pem_ca_that_is_garbage_is_refused(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(UserError):
        init_wizard._read_ca(str(bad))


def test_one_problem_is_said_in_the_singular(device_folder, capsys):  # noqa: F811
    (device_folder / "secrets.json").chmod(0o640)
    assert main(["validate", "--dir", str(device_folder)]) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last == f"tempnode: error: {device_folder} has 1 problem (above): fix it and retry"


def test_a_folder_can_be_made_before_the_board_is_plugged_in(tmp_path, ca_pem, capsys):  # noqa: F811
    folder = tmp_path / "logger-01"
    assert main(init_args(folder, ca_pem, port="/dev/ttyNOPE")) == 0
    out = capsys.readouterr().out
    assert "port /dev/ttyNOPE (/dev/ttyNOPE is not there now: plug the board in" in out
    assert json.loads((folder / "local.json").read_text()) == {"port": "/dev/ttyNOPE"}
    # The next steps in the README's order: deploy, then provision, then run.
    assert out.splitlines()[-1] == (
        f"next: tempnode deploy --dir {folder}, then tempnode provision --dir {folder}, "
        f"then tempnode run --dir {folder}"
    )


def test_a_network_without_a_password_is_refused_not_made_open(tmp_path, ca_pem, capsys):  # noqa: F811
    folder = tmp_path / "logger-01"
    args = init_args(folder, ca_pem)
    args[args.index(f"home={WIFI_PASSWORD}")] = "home"
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "tempnode: error: --wifi home has no password: give --wifi home=PASSWORD "
        "(--wifi home= for an open network)"
    )
    assert not folder.exists()
    args[args.index("home")] = "home="
    assert main(args) == 0
    assert json.loads((folder / "secrets.json").read_text())["wifi"] == {"home": ""}


def test_a_lost_secrets_file_is_written_again_for_the_config(device_folder, capsys, monkeypatch):  # noqa: F811
    config_before = (device_folder / "config.json").read_bytes()
    (device_folder / "secrets.json").unlink()
    assert main(["validate", "--dir", str(device_folder)]) == 2
    advice = capsys.readouterr().err.strip()
    fix = f"tempnode init --dir {device_folder} --secrets-only"
    assert advice.endswith(
        f"secrets.json does not exist: write it for {device_folder / 'config.json'} with `{fix}`"
    )
    monkeypatch.setattr(init_wizard.sys.stdin, "isatty", lambda: True)
    answers = iter(["barn-password", "new-client-secret"])
    monkeypatch.setattr(init_wizard.getpass, "getpass", lambda prompt: next(answers))
    assert main(fix.split()[1:]) == 0
    assert (device_folder / "config.json").read_bytes() == config_before
    secrets = json.loads((device_folder / "secrets.json").read_text())
    assert secrets == {"wifi": {"home": "barn-password"}, "client_secret": "new-client-secret"}
    assert stat.S_IMODE((device_folder / "secrets.json").stat().st_mode) == 0o600
    capsys.readouterr()
    assert main(["validate", "--dir", str(device_folder)]) == 0
