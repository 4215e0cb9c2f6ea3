import pytest

from host_tools import build
from host_tools.boards import board_names
from host_tools.cli import main
from host_tools.errors import UserError


@pytest.mark.parametrize("board", board_names())
def test_every_board_builds_mpy_files(board, tmp_path):
    out_dir, files = build.build(board, out_root=tmp_path)
    names = dict(files)
    assert "tempnode/clock.mpy" in names
    assert "board.json" in names
    for name in names:
        assert not name.endswith(".py") or name in build.ENTRY_SCRIPTS
    header = (out_dir / "tempnode" / "clock.mpy").read_bytes()[:2]
    assert header == b"M\x06", "mpy v6 header expected"


def test_build_prints_sizes_per_file_and_total(capsys):
    assert main(["build", "--board", "esp32-devkitc"]) == 0
    out = capsys.readouterr().out
    assert "tempnode/atomic.mpy" in out
    assert "total" in out


def test_syntax_micropython_rejects_fails_with_file_and_line(tmp_path):
    firmware = tmp_path / "firmware"
    (firmware / "tempnode").mkdir(parents=True)
    (firmware / "tempnode" / "ok.py").write_text("x = 1\n")
    # Valid CPython 3.11, but MicroPython has no `match` statement.
    (firmware / "tempnode" / "bad.py").write_text("x = 1\nmatch x:\n    case 1:\n        pass\n")
    with pytest.raises(UserError, match=r"tempnode/bad.py:2: SyntaxError"):
        build.build("host", out_root=tmp_path / "out", firmware_root=firmware)


def test_mpy_version_mismatch_is_refused(monkeypatch):
    monkeypatch.setattr(build, "mpy_cross_version", lambda: "5.0")
    with pytest.raises(UserError, match="runs mpy v6.3 but mpy-cross emits v5.0"):
        build.build("pico-w")
