# Staging an update under MicroPython against a scripted release server: ranged pieces, the
# hash of each file as it arrives, resuming after a reboot from what the flash holds, the
# switch, each refusal (tampered, truncated, bad signature, other board, newer MicroPython,
# full flash), and the trial's confirmation and time bound (tempnode.ota).
import json
import os
import time

import slots
from devtest import mount_sim_flash, unmount
from sim_flash import SimFlash
from tempnode import outcomes, profiles, staging
from tempnode.clock import Clock
from tempnode.http import HttpError, Response
from tempnode.ota import Updates

ENV = {"TEMPNODE_VCLOCK_STILL": "1"}

# A release made for these tests on the host with `cryptography` (key: bytes 0..31 as the
# Ed25519 seed; host_tools/release.py's format, tempnode.manifest's signed message).
PUBLIC_KEY = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
FILES = {
    "tempnode/__init__.mpy": b"VERSION = 'test-b'\n",
    "tempnode/big.mpy": bytes(range(256)) * 12 + b"end",
    "tempnode/empty.mpy": b"",
}
GOOD = (
    '{"format":1,"version":"9.9.9+test","board":"host","micropython":[1,23,0],"files":['
    '["tempnode/__init__.mpy",19,"4faa088ebcb8ae149223e0f9ddb62549b54e0337839c170dfdc2cee14555328a"],'
    '["tempnode/big.mpy",3075,"fff5d0952a2272c2d76e419a1ad7b6f026eab7ad776afd029916f60fd43c2dd0"],'
    '["tempnode/empty.mpy",0,"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]]}',
    "5f25d71521ee0ae10c311dd2d2360016be2de1697e5c677cdb3d940541fe1f5e"
    "7c9a3100b6e5d8d1416b982ffc82d199cf85394860e2a4d50b498506fa101602",
)
OTHER_BOARD = (
    GOOD[0].replace("9.9.9+test", "9.9.9+pico").replace('"host"', '"pico-w"'),
    "47573bf0c3934c4d0c76533a9e88a69421b46d73a9b150b646bc79ef72854fb9"
    "94ab5a5fb7da88bbadc43a785b04b769177ac67698b0b69fd110774e270b6307",
)
NEWER_MICROPYTHON = (
    GOOD[0].replace("9.9.9+test", "9.9.9+newer").replace("[1,23,0]", "[9,0,0]"),
    "5003d6a105d9eb40f90c138bb0fff5d62c6853c02c715d6ee1ace019b005dccb"
    "6d032521d94ffcbaebe41da3225d151ad996ddc3ad2d2b17e2f6f81b165fd405",
)
RUNNING = "1.0.0+running"
CONFIG = {
    "device_id": "logger-01",
    "cloud": {"profile": "oauth2"},
    "sample_interval_s": 30,
    "upload": {"interval_s": 60},
    "ota": {"public_key": PUBLIC_KEY, "channel": "stable", "check_interval_s": 86400},
}


class ReleaseServer:
    """The cloud's update endpoints (host_tools/cloud/releases.py), scripted: `files` may be
    changed after signing to play a damaged release; `drop_after` requests, the link drops."""

    def __init__(self, release=GOOD, files=None):
        self.manifest, self.signature = release[0].encode(), release[1]
        self.version = json.loads(self.manifest)["version"]
        names = [entry[0] for entry in json.loads(self.manifest)["files"]]
        self.files = [(files or FILES)[name] for name in names]
        self.sent = []
        self.drop_after = None

    def request(self, method, path, body, deadline_ms, headers=None, fields=(), into=None):
        body_max = len(into) if into is not None else None
        self.sent.append((path, dict(headers or {}), body_max))
        assert headers["Authorization"] == "Bearer token-abcdefgh"
        if self.drop_after is not None and len(self.sent) > self.drop_after:
            raise HttpError("closed", "the link dropped")
        base = "/api/v1/ota/host/"
        if path == base + "channels/stable":
            offer = {"version": self.version, "manifest_size": len(self.manifest)}
            offer["signature"] = self.signature
            return Response(200, {}, offer)
        prefix = base + "releases/" + self.version + "/"
        assert path.startswith(prefix), path
        rest = path[len(prefix) :]
        data = self.manifest if rest == "manifest" else self.files[int(rest.split("/")[1])]
        first, last = (int(n) for n in headers["Range"][len("bytes=") :].split("-"))
        if first >= len(data):
            return Response(416, {})
        piece = data[first : last + 1]
        assert len(piece) <= body_max
        into[: len(piece)] = piece
        return Response(206, {}, None, memoryview(into)[: len(piece)], len(piece))

    def ranges(self, index):
        """The byte ranges asked of file `index`."""
        suffix = "/files/%d" % index
        return [h["Range"] for p, h, _ in self.sent if p.endswith(suffix)]


class Link:
    """The cloud link as staging uses it: resource requests with the bearer token."""

    def __init__(self, server):
        self.session = server
        self.tokens = self

    def resource(self, session, method, target, body_for, deadline_ms, headers=None, **reply):
        sent = {"Authorization": "Bearer token-abcdefgh"}
        sent.update(headers or {})
        answer = session.request(method, target, body_for(), deadline_ms, sent, **reply)
        return answer, outcomes.classify(profiles.get("oauth2"), outcomes.INGEST, answer)


class Board:
    def __init__(self):
        self.resets = 0
        self.fed = 0
        self.clock = Clock()
        self.lines = []
        staging.log = self.lines.append
        self.updates = Updates(CONFIG, {"name": "host"}, self.clock, self.feed, self.reset)

    def feed(self):
        self.fed += 1

    def reset(self):
        self.resets += 1

    def deadline(self):
        return self.clock.monotonic_ms() + 6000

    def stage(self, server, check=True):
        """One step of a Staging made now (as after a boot): True once switched."""
        step = staging.Staging(self.updates, RUNNING)
        return step.advance(Link(server), self.deadline, check)


def _clean():
    staging.remove_tree("ota")
    slots._state = None


def _on_flash(folder):
    found = {}
    for name in os.listdir(folder + "/tempnode"):
        with open(folder + "/tempnode/" + name, "rb") as f:
            found["tempnode/" + name] = f.read()
    return found


def test_an_update_comes_in_ranged_pieces_is_verified_and_switched_to():
    _clean()
    board, server = Board(), ReleaseServer()
    assert board.stage(server) is True
    state = slots.state()
    assert (state["run"], state["version"], state["trial"]) == ("ota/a", "9.9.9+test", True)
    assert (state["previous"], state["previous_version"]) == ("", RUNNING)
    assert _on_flash("ota/a") == FILES
    assert server.ranges(1) == ["bytes=0-2047", "bytes=2048-3074"]
    pieces = [body_max for _, _, body_max in server.sent if body_max is not None]
    assert pieces and all(body_max <= 2048 for body_max in pieces), pieces
    assert not slots.staging_in_progress()
    assert board.fed >= len(server.sent)  # the watchdog is fed between pieces
    assert "update: version 9.9.9+test downloaded and verified (3 files); restarting into it" in (
        board.lines
    )


def test_a_download_cut_short_goes_on_from_what_the_flash_holds_after_a_reboot():
    _clean()
    board, server = Board(), ReleaseServer()
    server.drop_after = 4  # channel, manifest, __init__, the first piece of big.mpy
    try:
        board.stage(server)
    except Exception as e:  # noqa: BLE001 - the link error ends this session's step
        assert "the link dropped" in str(e), e
    assert slots.staging_in_progress()
    assert os.stat("ota/a/tempnode/big.mpy")[6] == 2048
    assert board.updates.status()["staged"] == "9.9.9+test (download under way)"
    again = ReleaseServer()
    assert board.stage(again, check=False) is True  # a new boot: nothing in RAM but the flash
    assert again.ranges(1) == ["bytes=2048-3074"]  # the first piece is not fetched again
    assert not any(p.endswith("/channels/stable") for p, _, _ in again.sent)
    assert _on_flash("ota/a") == FILES


def test_each_bad_release_is_refused_with_one_line_and_never_tried_again():
    damaged = dict(FILES)
    damaged["tempnode/big.mpy"] = FILES["tempnode/big.mpy"][:-1] + b"X"
    truncated = dict(FILES)
    truncated["tempnode/big.mpy"] = FILES["tempnode/big.mpy"][:3000]
    bad_signature = (GOOD[0], GOOD[1][:-2] + "00")
    cases = (
        (ReleaseServer(GOOD, damaged), "the SHA-256 of tempnode/big.mpy differs"),
        (ReleaseServer(GOOD, truncated), "is shorter than the manifest says"),
        (ReleaseServer(bad_signature), "the manifest's signature does not verify"),
        (ReleaseServer(OTHER_BOARD), "it is for board pico-w, this board is host"),
        (ReleaseServer(NEWER_MICROPYTHON), "it needs MicroPython 9.0.0 or later, this board"),
    )
    for server, reason in cases:
        _clean()
        board = Board()
        assert board.stage(server) is False
        refusals = [line for line in board.lines if line.startswith("update: refusing")]
        assert len(refusals) == 1 and reason in refusals[0], (reason, board.lines)
        assert refusals[0].endswith("the running version is untouched"), refusals
        state = slots.state()
        assert state["run"] == "" and not state["trial"], state
        assert server.version in state["rejected"], state
        assert server.version in board.updates.status()["rejected"]
        assert not slots.staging_in_progress() and "a" not in os.listdir("ota")
        before = len(server.sent)
        assert board.stage(server) is False  # offered again: not fetched again
        assert len(server.sent) == before + 1, server.sent[before:]


def test_a_flash_without_room_for_the_bundle_abandons_it_and_keeps_the_readings_room():
    _clean()
    mount_sim_flash(SimFlash(block_count=20))
    try:
        with open("readings.bin", "wb") as f:
            f.write(b"r" * 4096)
        board, server = Board(), ReleaseServer()
        assert board.stage(server) is False
        (line,) = [text for text in board.lines if text.startswith("update: refusing")]
        assert "the flash is full: it needs 88 KB" in line, line
        assert server.version not in (slots.state() or {}).get("rejected", {})
        assert not slots.staging_in_progress()
        assert os.stat("readings.bin")[6] == 4096
    finally:
        unmount()
        slots._state = None


def test_a_version_on_trial_is_confirmed_once_healthy_or_reset_after_its_time():
    _clean()
    board = Board()
    slots.switch("ota/a", "9.9.9+test", RUNNING)
    updates = Updates(CONFIG, {"name": "host"}, board.clock, board.feed, board.reset)
    updates.watch(False, 0)
    assert board.resets == 0 and slots.on_trial()
    assert updates.status()["trial"] == "boot 0 of 3"
    time.sleep_ms(updates.trial_ms)  # virtual time: no upload confirmed in the trial's time
    updates.watch(False, 0)
    assert board.resets == 1
    assert slots.state()["failure"] == "not confirmed within 600 s of its boot"
    updates = Updates(CONFIG, {"name": "host"}, Clock(), board.feed, board.reset)
    updates.watch(True, 3)  # sampled, stable, and the cloud confirmed readings
    state = slots.state()
    assert not state["trial"] and state["previous"] is None, state
    assert updates.facts["update"] == {"version": "9.9.9+test", "outcome": "confirmed"}
    updates.watch(True, 3)
    assert "update" in updates.facts  # not yet carried by a confirmed batch
    updates.watch(True, 5)
    assert "update" not in updates.facts and slots.state()["report"] is None


def test_the_batch_facts_name_the_running_firmware():
    _clean()
    board = Board()
    assert board.updates.facts == {"firmware": "source"}
    assert board.updates.status()["running"] == "source"
    assert board.updates.enabled
    no_ota = dict(CONFIG, cloud={"profile": "particle"})
    assert not Updates(no_ota, {"name": "host"}, board.clock, board.feed, board.reset).enabled
    deep = dict(CONFIG, deep_sleep={"enabled": True})
    assert not Updates(deep, {"name": "host"}, board.clock, board.feed, board.reset).enabled
