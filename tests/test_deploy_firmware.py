"""From a fresh simulated board to a provisioned logger with the real firmware, the dev cloud and
the CLI: init, deploy, provision, logs, status; then nothing the CLI printed holds a secret."""

import importlib.util
import io
import json
import time

import pytest
from board_fixtures import WIFI_PASSWORD, wait_for_console

from host_tools.cli import main
from host_tools.paths import REPO
from host_tools.virtual_board import VirtualBoard

SCENARIO = REPO / "tests" / "scenarios" / "sensors_basic.json"


def scenario_roms():
    """The ROM (hex) of each sensor in the scenario, CRC byte from the bus simulator."""
    path = REPO / "boards" / "host" / "onewire_sim.py"
    spec = importlib.util.spec_from_file_location("onewire_sim", path)
    sim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sim)
    roms = []
    for sensor in json.loads(SCENARIO.read_text())["sensors"]:
        body = bytes.fromhex(sensor["family"] + sensor["serial"])
        roms.append((body + bytes((sim.crc8(body),))).hex())
    return roms


@pytest.fixture
def field_board(tmp_path, dev_cloud):
    scenario = json.loads(SCENARIO.read_text())
    scenario["wifi"] = [{"ssid": "home", "password": WIFI_PASSWORD, "rssi": -58}]
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    env = {
        "TEMPNODE_SCENARIO": str(tmp_path / "scenario.json"),
        "TEMPNODE_VCLOCK": str(dev_cloud.vclock_path),  # board and cloud share virtual time
    }
    image = tmp_path / "flash.img"
    with VirtualBoard(tmp_path / "board", flash_image=image, env=env) as board:
        yield board


def console_tail(board):
    """What the board printed last: the reason a step failed is usually there."""
    return bytes(board.console[-3000:]).decode(errors="replace")


def readings_stored(dev_cloud, device_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readings = dev_cloud.admin.readings(device_id)
        if readings:
            return readings
        time.sleep(0.5)
    return []


def test_init_deploy_provision_run_status_on_the_real_firmware(
    field_board, dev_cloud, tmp_path, capfd, monkeypatch
):
    device = dev_cloud.admin.create_device("logger-01", profile="oauth2")
    refresh_token = device["credential"]["refresh_token"]
    folder = tmp_path / "logger-01"
    args = ["init", "--dir", str(folder), "--board", "host", "--device-id", "logger-01"]
    args += ["--port", field_board.port, "--wifi", f"home={WIFI_PASSWORD}"]
    args += ["--profile", "oauth2", "--base-url", dev_cloud.base_url]
    args += ["--client-id", device["client_id"], "--client-secret", device["client_secret"]]
    args += ["--ca", str(dev_cloud.ca_pem_path), "--sample-interval", "60"]
    for number, rom in enumerate(scenario_roms(), 1):
        args += ["--sensor", f"{rom}=probe-{number}"]
    assert main(args) == 0
    at = ["--dir", str(folder)]  # the port comes from the folder (init recorded it)

    assert main(["deploy"] + at) == 0, console_tail(field_board)
    assert wait_for_console(field_board, b"MPY: soft reboot")
    assert wait_for_console(field_board, b"tempnode: "), "the firmware starts after deploy"

    credential = {"kind": "refresh_token", "refresh_token": refresh_token}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(credential) + "\n"))
    assert main(["provision", "--via", "paste"] + at) == 0, console_tail(field_board)
    stored = readings_stored(dev_cloud, "logger-01")
    assert stored, console_tail(field_board)

    assert main(["logs", "--seconds", "1"] + at) == 0, console_tail(field_board)
    assert main(["status"] + at) == 0, console_tail(field_board)
    assert main(["deploy"] + at) == 0, console_tail(field_board)

    out = capfd.readouterr()
    printed = out.out + out.err
    assert ": 0 copied (0 B)" in printed, "a second deploy copies nothing"
    status_lines = printed.split("board ", 1)[1].splitlines()
    assert status_lines[0].strip() == "host"
    assert any(line.startswith("spool.waiting") for line in status_lines)
    for secret in (WIFI_PASSWORD, device["client_secret"], refresh_token):
        assert secret not in printed
