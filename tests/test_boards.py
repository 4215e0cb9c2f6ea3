import json
import shutil

import pytest

from host_tools import boards
from host_tools.cli import main
from host_tools.errors import UserError
from host_tools.paths import BOARDS

EXPECTED = {"esp32-devkitc", "esp32s3-devkitc", "esp32c3-devkitm", "pico-w", "nodemcu-esp8266"}


def test_catalogue_lists_six_boards_with_their_facts(capsys):
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    for name in EXPECTED | {"host"}:
        assert name in out
    pico = boards.load_board("pico-w")
    assert pico["watchdog_max_ms"] == 8388
    assert boards.load_board("nodemcu-esp8266")["verified_tls"] is False
    assert len(boards.load_all()) == 6


@pytest.fixture
def board_dir(tmp_path):
    shutil.copy(BOARDS / "pico-w.json", tmp_path / "pico-w.json")
    return tmp_path


def _rewrite(board_dir, change):
    path = board_dir / "pico-w.json"
    board = json.loads(path.read_text())
    change(board)
    path.write_text(json.dumps(board))


def test_bad_field_is_named_with_its_file(board_dir):
    _rewrite(board_dir, lambda b: b["pins"].update(onewire=-3))
    with pytest.raises(UserError, match=r"pico-w.json: field 'pins.onewire' is -3"):
        boards.load_board("pico-w", board_dir)


def test_missing_field_is_named(board_dir):
    _rewrite(board_dir, lambda b: b.pop("watchdog_max_ms"))
    with pytest.raises(UserError, match=r"field 'watchdog_max_ms' is missing"):
        boards.load_board("pico-w", board_dir)


def test_broken_json_is_reported_with_its_line(board_dir):
    (board_dir / "pico-w.json").write_text('{\n "name": "pico-w",\n oops\n}')
    with pytest.raises(UserError, match=r"pico-w.json: not valid JSON .* line 3"):
        boards.load_board("pico-w", board_dir)


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(UserError, match="unknown board 'esp99'.*pico-w"):
        boards.load_board("esp99")
