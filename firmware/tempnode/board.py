"""The board's facts on the device: `board.json`, copied next to the code by `tempnode build`."""

import json

_BOARD_FILE = "board.json"


def load_board(path=_BOARD_FILE):
    with open(path) as f:
        return json.load(f)


def make_pin(spec, mode, pull=None):
    """A `machine.Pin` from a board-file pin spec: a GPIO number or a pin name such as 'LED'."""
    import machine

    if pull is None:
        return machine.Pin(spec, mode)
    return machine.Pin(spec, mode, pull)
