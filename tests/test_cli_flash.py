"""`tempnode flash-micropython`: the exact esptool / UF2 steps per board, without hardware."""

import struct
import sys

import pytest
from esptool.bin_image import ELFSection, ESP32FirmwareImage, ESP32S3FirmwareImage

from host_tools import flash
from host_tools.boards import load_board
from host_tools.cli import main
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


def test_the_host_board_is_refused():
    with pytest.raises(UserError, match="runs on the host: there is nothing to flash"):
        flash.plan(load_board("host"), "/dev/ttyUSB0", "fw.bin")


def esp_image(path, image_class):
    """A small but real ESP application image, made by esptool's own image writer."""
    image = image_class()
    image.segments = [ELFSection(b".dram0.data", 0x3FFB0000, b"\0" * 64, 0)]
    image.entrypoint = 0x40080000
    image.save(str(path))
    return path


def uf2_image(path, family=flash.UF2_FAMILIES["rp2040"]):
    block = struct.pack("<IIIIIII", *flash.UF2_MAGICS, flash.UF2_FAMILY_FLAG, 0, 256, 0, 1)
    block += struct.pack("<I", family) + bytes(512 - 32)
    path.write_bytes(block)
    return path


@pytest.fixture
def no_tool_runs(monkeypatch):
    ran = []
    monkeypatch.setattr(flash.subprocess, "run", lambda argv: ran.append(argv))
    return ran


def flash_cli(*args):
    return main(["flash-micropython", *args])


def test_an_image_for_another_chip_is_refused_before_the_board_is_erased(
    tmp_path, capsys, no_tool_runs
):
    s3 = esp_image(tmp_path / "ESP32_GENERIC_S3.bin", ESP32S3FirmwareImage)
    pico = uf2_image(tmp_path / "RPI_PICO_W.uf2")
    cases = [
        ("esp32-devkitc", s3, "an image for chip id 9, not esp32's 0"),
        ("esp32-devkitc", pico, "not an image for esp32 (Invalid firmware image magic=0x55)"),
        ("pico-w", s3, "not a UF2 file (not whole 512-byte blocks)"),
        (
            "pico-w",
            uf2_image(tmp_path / "other.uf2", family=0x1C5F21B0),
            "a UF2 file for family 0x1c5f21b0, not 0xe48bff56",
        ),
    ]
    for board, image, problem in cases:
        assert flash_cli("--board", board, "--port", "/dev/ttyNOPE", "--firmware", str(image)) == 2
        err = capsys.readouterr().err.strip()
        assert err == (
            f"tempnode: error: {image} is {problem}, expected a MicroPython image for "
            f"{load_board(board)['chip']} ({board}): nothing was written to the board"
        )
    assert no_tool_runs == []
    # The right images pass the check; only then is the port looked at.
    for board, image in (("esp32s3-devkitc", s3), ("pico-w", pico)):
        assert flash_cli("--board", board, "--port", "/dev/ttyNOPE", "--firmware", str(image)) == 2
        assert "no serial port /dev/ttyNOPE" in capsys.readouterr().err
    flash.check_image(
        load_board("esp32-devkitc"), esp_image(tmp_path / "e.bin", ESP32FirmwareImage)
    )


def test_a_missing_image_is_said_first_even_with_no_board_attached(capsys, no_tool_runs):
    assert flash_cli("--board", "esp32-devkitc", "--firmware", "nowhere.bin") == 2
    assert capsys.readouterr().err.strip() == "tempnode: error: no firmware file nowhere.bin"


def test_a_failing_tool_stops_the_flash(monkeypatch):
    class Done:
        returncode = 2

    monkeypatch.setattr(flash.subprocess, "run", lambda argv: Done())
    with pytest.raises(UserError, match=r"esptool failed \(exit 2\)"):
        flash.run_step(ESPTOOL + ["--chip", "esp32", "erase-flash"])
