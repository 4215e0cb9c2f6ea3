"""Where the repository's parts are, seen from the host tools, and where the tools keep data."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
BOARDS = REPO / "boards"
# `TEMPNODE_BUILD_DIR` moves the build output (each test worker builds into a folder of its own).
BUILD = Path(os.environ.get("TEMPNODE_BUILD_DIR") or REPO / "build")


def data_home():
    """The one folder for what the tools keep between commands (the dev cloud, the practice
    board, simulator runs): `$XDG_DATA_HOME/tempnode`, by default ~/.local/share/tempnode.
    Read at each call, so every command of one shell agrees, and a test can move it."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "tempnode"


def cloud_dir():
    """The dev cloud's data folder that every `tempnode` command uses by default."""
    return data_home() / "cloud"
