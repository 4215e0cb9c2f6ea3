"""README blocks that show what a command prints stay what it prints: the board catalogue,
and the lines of the simulator's summary."""

import re

from host_tools import sim
from host_tools.boards import format_table, load_all
from host_tools.paths import REPO

README = (REPO / "README.md").read_text()


def block_after(heading_text):
    """The first fenced block after `heading_text` in the README."""
    rest = README[README.index(heading_text) :]
    return rest.split("```", 1)[1].split("\n", 1)[1].split("```", 1)[0]


def test_the_board_table_is_what_tempnode_boards_prints():
    assert block_after("`tempnode boards` prints the catalogue") == format_table(load_all()) + "\n"


def test_the_demo_summary_has_the_lines_tempnode_sim_prints():
    shown = block_after("the run ends with a census").strip().splitlines()
    facts = {
        "device_id": "d",
        "virtual_s": 10800,
        "run_wall_s": 1.0,
        "boots": 1,
        "resets": {},
        "taken": 720,
        "stored": 708,
        "spooled": 12,
        "dropped": 0,
        "lost": 0,
        "stored_twice": 0,
        "same_reading_two_seqs": 0,
        "stored_without_time": 0,
        "token_events": {"issued": 1},
        "device_flow_approvals": 1,
        "wifi_outages": 1,
        "cloud_outages": 1,
    }
    printed = sim.format_summary(facts, "https://localhost:8443/dashboard").strip().splitlines()

    def labels(lines):
        return [re.split(r"\s{2,}", line)[0] for line in lines]

    assert labels(shown) == labels(printed)
    assert "readings taken    720" in shown  # the demo takes the same readings every run
