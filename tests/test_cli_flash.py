"""`tempnode flash-micropython`: the exact esptool / UF2 steps per board, without hardware."""

import sys

import pytest

from host_tools import flash
from host_tools.boards import load_board
from host_tools.errors import UserError

PY = sys.executable
ESPTOOL = [PY, "-m", "esptool"]


@pytest.mark.parametrize(
    "board, chip, offset, extra",
    [
        ("esp32-devkitc", "esp32", "0x1000", []),
        ("esp32s3-devkitc", "esp32s3", "0x0", []),
        ("esp32c3-devkitm", "esp32c3", "0x0", []),
        ("nodemcu-esp8266", "esp8266", "0x0", ["--flash-size=detect"]),
    ],
)
def test_esp_boards_erase_then_write_at_the_chip_offset(board, chip, offset, extra):
    steps = flash.plan(load_board(board), "/dev/ttyUSB0", "fw.bin")
    head = ESPTOOL + ["--chip", chip, "--port", "/dev/ttyUSB0"]
    assert steps == [
        ("run", head + ["erase-flash"]),
        ("run", head + ["--baud", "460800", "write-flash"] + extra + [offset, "fw.bin"]),
    ]


def test_pico_w_goes_to_the_bootloader_then_gets_the_uf2_copied(tmp_path, capsys):
    steps = flash.plan(load_board("pico-w"), "/dev/ttyACM0", "pico.uf2")
    assert steps == [
        ("run", [PY, "-m", "mpremote", "connect", "/dev/ttyACM0", "bootloader"]),
        ("copy", "pico.uf2"),
    ]
    firmware = tmp_path / "RPI_PICO_W.uf2"
    firmware.write_bytes(b"UF2\n" * 100)
    drive = tmp_path / "media" / "RPI-RP2"
    drive.mkdir(parents=True)
    ran = []
    steps = flash.plan(load_board("pico-w"), "/dev/ttyACM0", str(firmware))
    flash.execute(
        steps,
        runner=ran.append,
        copier=lambda fw: flash.copy_uf2(fw, wait_s=1, finder=lambda: drive),
    )
    assert ran == [steps[0][1]]
    assert (drive / "RPI_PICO_W.uf2").read_bytes() == firmware.read_bytes()
    out = capsys.readouterr().out
    assert "[1/2]" in out and "[2/2]" in out and "(400 B)" in out


def test_find_drive_looks_under_the_usual_mount_roots(tmp_path):
    (tmp_path / "user" / "RPI-RP2").mkdir(parents=True)
    assert flash.find_drive(roots=(str(tmp_path / "*"),)) == tmp_path / "user" / "RPI-RP2"
    assert flash.find_drive(roots=(str(tmp_path / "none"),)) is None


def test_no_drive_is_a_clear_error():
    with pytest.raises(UserError, match="no RPI-RP2 drive appeared within 0 s: hold BOOTSEL"):
        flash.copy_uf2("x.uf2", wait_s=0, finder=lambda: None)


def test_download_delegates_to_mpflash_and_the_host_board_is_refused():
    steps = flash.download_plan(load_board("esp32s3-devkitc"), "/dev/ttyUSB0")
    mpflash = [PY, "-m", "mpflash", "flash", "--serial", "/dev/ttyUSB0"]
    assert steps == [("run", mpflash + ["--board", "ESP32_GENERIC_S3", "--version", "stable"])]
    with pytest.raises(UserError, match="runs on the host: there is nothing to flash"):
        flash.plan(load_board("host"), "/dev/ttyUSB0", "fw.bin")


def test_a_failing_tool_stops_the_flash(monkeypatch):
    class Done:
        returncode = 2

    monkeypatch.setattr(flash.subprocess, "run", lambda argv: Done())
    with pytest.raises(UserError, match=r"esptool failed \(exit 2\)"):
        flash.run_step(ESPTOOL + ["--chip", "esp32", "erase-flash"])
