"""Where the repository's parts are, seen from the host tools."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
BOARDS = REPO / "boards"
BUILD = REPO / "build"
