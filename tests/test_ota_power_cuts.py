# Issue 17's power-cut campaign on the simulated board, against the dev cloud: an update from A
# to B (download, signature check, switch, B's first boot up to its confirmation), with the
# power cut once at each of its block writes in turn (every CUT_STRIDE-th, at least 200). After
# each cut the board boots on and is judged: every boot ran A or B complete (the version it
# reports, its logger's own words and, after the cut, the files of the bundle the pointer
# names), no reading lost or stored twice, and the update either completed or was abandoned
# cleanly (B refused, A running).
import json
import os
import re
import subprocess

import pytest
from field_board import BLOCK_SIZE, HOST_BOARD, install_device, start_cloud
from ota_support import B_MARK, LOGGING, cloud_db, firmware_variant, ota_board

from host_tools.paths import BOARDS, FIRMWARE
from host_tools.release import build_release
from host_tools.sim import resets
from host_tools.virtual_board import LAUNCHER, micropython_binary

# Every third write in the suite (over 250 cuts, about 4 minutes); TEMPNODE_CUT_STRIDE=1 runs
# the whole campaign, a cut at every block write (the README's figures).
CUT_STRIDE = int(os.environ.get("TEMPNODE_CUT_STRIDE", "3"))
MIN_POINTS = 200
DURATION_S = 300  # a cut, then the update (one retry) and B's confirmation (60 s)
TROUBLE = ("Traceback", "Error", "failed to start", "abandoned", "refusing")
_BOOT = re.compile(r"tempnode: boot: firmware (\S+) \((.+)\)")

# Runs under MicroPython: what the flash says boots, the SHA-256 of each file there, and the
# spool's seqs (read by the firmware's own Spool).
_BUNDLE_ON_FLASH = """
import hashlib, json, os, sys, vfs
sys.path[:0] = [{firmware!r}, {board!r}]
from sim_flash import SimFlash
from tempnode.clock import Clock
from tempnode.spool import Spool
vfs.mount(vfs.VfsLfs2(SimFlash.open({image!r}, {block}, {blocks})), "/flash", readonly={readonly})
os.chdir("/flash")
try:
    pointer = json.load(open("ota/boot.json"))
except OSError:
    pointer = {{"run": "", "version": None, "trial": False, "rejected": {{}}}}
root = (pointer["run"] + "/" if pointer["run"] else "") + "tempnode"
files = {{}}
for name in os.listdir(root):
    h = hashlib.sha256()
    h.update(open(root + "/" + name, "rb").read())
    files["tempnode/" + name] = h.digest().hex()
facts = {{"pointer": pointer, "files": files}}
if not {readonly}:  # at the end of a run only: the Spool may write its head
    spool = Spool("spool", 10000, Clock())
    facts.update(taken=spool.taken(), spooled=[r["seq"] for r in spool.peek_batch(10000)])
print(json.dumps(facts))
"""


def bundle_on_flash(image, readonly):
    code = _BUNDLE_ON_FLASH.format(
        readonly=readonly,
        firmware=str(FIRMWARE),
        board=str(BOARDS / "host"),
        image=str(image),
        block=BLOCK_SIZE,
        blocks=HOST_BOARD["filesystem_kb"] * 1024 // BLOCK_SIZE,
    )
    out = subprocess.run(
        [micropython_binary(), "-X", "heapsize=512k", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, MICROPYPATH=str(LAUNCHER.parent)),
        timeout=30,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def manifest_files(manifest_bytes):
    return {path: digest for path, _size, digest in json.loads(manifest_bytes)["files"]}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    work = tmp_path_factory.mktemp("ota-cuts")
    cloud = start_cloud(work)
    installed = install_device(cloud, work / "install", "ota-cuts")
    reference = ota_board(
        installed, work / "ref", "ota-cut-ref", {"duration_s": DURATION_S}, channel="ota-cuts"
    )
    b = reference.publish(firmware_variant(work, "cuts"), channel="ota-cuts")
    a_manifest, _ = build_release("host")  # what `tempnode deploy` put on the board
    writes = []
    # A's boot that switches (it ends in a reset), then B's first boot (confirmed in it).
    for expected in (resets.exit_status(resets.HARD_RESET), None):
        assert reference.boot() == expected, reference.lines
        writes.append(json.loads((reference.work / "flash.img.stats").read_text())["run_writes"])
    assert reference.count(f"update: version {b} confirmed") == 1, reference.lines
    yield {
        "installed": installed,
        "work": work,
        "b": b,
        "a": json.loads(a_manifest)["version"],
        "bundles": {
            json.loads(a_manifest)["version"]: manifest_files(a_manifest),
            b: manifest_files(reference_manifest(reference, b)),
        },
        "writes": writes,
    }
    cloud.stop()


def reference_manifest(board, version):
    with cloud_db(board.installed) as db:
        (data,) = db.execute(
            "SELECT manifest FROM releases WHERE version = ?", (version,)
        ).fetchone()
    return bytes(data)


def check_boots(lines, versions):
    """What is wrong with the boots: each must name one version it runs, and its logger (if
    it started) must be that version's."""
    boots = [(m.group(1), i) for i, m in enumerate(map(_BOOT.search, lines)) if m]
    if not boots:
        return ["no boot named its version"]
    problems = []
    for (version, start), (_, end) in zip(boots, boots[1:] + [(None, len(lines))], strict=True):
        if version not in versions:
            problems.append(f"a boot ran version {version}")
        for line in lines[start:end]:
            if LOGGING in line and (B_MARK in line) != (version == versions[1]):
                problems.append(f"version {version}'s boot started another's logger: {line}")
    return problems


def one_cut(campaign, number, boot, write):
    """Cut the power at `write` of boot `boot` (0: A's boot that switches, 1: B's first), let
    the board boot on, and judge it: the outcome ("updated" or "abandoned"), or what failed
    with the board's whole console."""
    a, b = campaign["a"], campaign["b"]
    cuts = [write] if boot == 0 else [0, write]  # 0: that boot runs without a cut
    board = ota_board(
        campaign["installed"],
        campaign["work"] / f"cut-{number}",
        f"ota-cut-{number}",
        {"duration_s": DURATION_S, "power_cut_writes": cuts},
        channel="ota-cuts",
    )
    statuses = [board.boot() for _ in range(boot + 1)]
    after_cut = bundle_on_flash(board.work / "flash.img", readonly=True)
    facts = board.run()
    final = bundle_on_flash(board.work / "flash.img", readonly=False)
    problems = []
    if statuses[-1] != resets.exit_status(resets.PWRON_RESET):
        problems.append(f"the power was not cut (exit statuses {statuses})")
    if any(word in line for line in board.firmware_lines() for word in TROUBLE):
        problems.append("trouble on the console")
    problems += check_boots(board.lines, (a, b))
    for when, state in (("after the cut", after_cut), ("at the end", final)):
        if state["files"] != campaign["bundles"][state["pointer"]["version"] or a]:
            problems.append(f"{when}, the pointer names a bundle that is not complete")
    # Every seq ever taken is in the cloud or still in the spool (a reading may be in both
    # when the run ended between the cloud's answer and the spool's note of it).
    stored = {r["seq"] for r in board.cloud_readings()}
    missing = set(range(final["taken"])) - stored - set(final["spooled"])
    if missing or facts["stored_twice"] or facts["same_reading_two_seqs"]:
        problems.append(f"readings lost {sorted(missing)} or duplicated: {facts}")
    pointer = final["pointer"]
    outcome = "updated" if pointer["version"] == b and not pointer["trial"] else "abandoned"
    if outcome == "abandoned" and not (
        pointer["version"] in (a, None) and b in pointer["rejected"]
    ):
        problems.append(f"neither updated nor abandoned: {pointer}")
    if problems:
        where = f"cut at write {write} of boot {boot + 1}"
        return None, f"{where}: " + "; ".join(problems) + "\n" + "\n".join(board.stamped)
    return outcome, None


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("half", [0, 1])  # the two halves can run on two test workers
def test_a_power_cut_at_any_block_write_of_an_update_never_boots_a_mix_nor_loses_a_reading(
    campaign, half
):
    first, second = campaign["writes"]
    points = [(0, n) for n in range(1, first + 1, CUT_STRIDE)]
    points += [(1, n) for n in range(1, second + 1, CUT_STRIDE)]
    assert len(points) >= MIN_POINTS or CUT_STRIDE > 3, (first, second)
    outcomes = {"updated": 0, "abandoned": 0}
    failures = []
    for number in range(half, len(points), 2):
        boot, write = points[number]
        outcome, failure = one_cut(campaign, number, boot, write)
        print(f"cut at write {write} of boot {boot + 1}: {outcome or failure}", flush=True)
        if failure:
            failures.append(failure)
        else:
            outcomes[outcome] += 1
    print(
        f"power-cut campaign, half {half + 1} of 2: {sum(outcomes.values()) + len(failures)} of "
        f"{len(points)} cuts over {first} + {second} block writes (one in {CUT_STRIDE}): "
        f"{outcomes}, {len(failures)} failed"
    )
    assert not failures, "\n\n".join(failures)
