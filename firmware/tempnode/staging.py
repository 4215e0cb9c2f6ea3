"""Staging an update: ask the channel, fetch the manifest and check its signature, fetch the
files in pieces, then switch. Every step is resumable and bounded by the caller's deadline.

    staging = Staging(updates, running_version)
    switched = staging.advance(link, deadline, check)   # True: the next boot runs the update

The cloud's side (the dev cloud implements it, `host_tools/cloud/releases.py`), behind the
device's ordinary bearer token, under the profile's `ota_path`:

    GET {ota_path}/{board}/channels/{channel}       {"version", "manifest_size", "signature"}
                                                    (404: nothing offered)
    GET {ota_path}/{board}/releases/{version}/manifest          the manifest's bytes
    GET {ota_path}/{board}/releases/{version}/files/{index}     file `index` of its list

The manifest and the files are fetched with `Range: bytes=a-b` (RFC 9110 §14), `_PIECE`
bytes a request on the session's connection, each piece appended to its file in the staging
folder and hashed as it arrives, so no file is ever whole in RAM. The staging folder is the
slot the pointer does not run from (`slots.free_folder()`); `ota/stage.json` says which
version is being staged and whether its manifest's signature has been verified. After a
reboot the download goes on where the flash says it stopped: the partial file is hashed again
from flash first, and every file already complete is hashed again before it counts.

The checks, each refusing the version with one line on the console (the running version and
the readings are untouched): the manifest's Ed25519 signature under `ota.public_key`
(`tempnode.manifest` says what is signed), the manifest's board, format and oldest MicroPython
(`manifest.problem`), the version it names, each file's size and SHA-256, a reply shorter than
the range asked for (the cloud's copy is truncated). A refused version is not tried again.
Not enough free flash for the bundle (with room kept for the spool) abandons the download
until the next check, without refusing the version. A network failure just stops the step.
"""

import binascii
import gc
import hashlib
import json
import os
import sys

import slots
from micropython import const

from tempnode import atomic, forget_modules, manifest, outcomes
from tempnode.http import HttpError
from tempnode.redact import LinkError, log

STAGE_FILE = slots.STAGE_FILE
_MANIFEST = "manifest.json"
# Bytes per Range request: the largest reply body held in RAM. A heap too fragmented for a
# piece (MemoryError) halves it, down to _PIECE_MIN, and the download goes on.
_PIECE = const(2048)
_OFFER_FIELDS = ("version", "manifest_size", "signature")
_PIECE_MIN = const(256)
_MANIFEST_MAX = const(16384)
_HASH_CHUNK = const(512)
_MIN_PIECE_MS = const(1000)  # not worth asking for a piece with less time left than this
_VERIFY_MS = const(4000)  # time a signature check may take on the slowest board, at most
_SPOOL_RESERVE_BLOCKS = const(16)  # free flash blocks kept for the spool after a download
_ENOSPC = const(28)


class Refused(Exception):
    """This version will not be installed; `lasting` when it must not be tried again."""

    def __init__(self, reason, lasting=True):
        super().__init__(reason)
        self.lasting = lasting


class Staging:
    def __init__(self, updates, running_version):
        self.u = updates
        self.running = running_version
        self.stage = atomic.read_json(STAGE_FILE) if slots.staging_in_progress() else None
        self.files = None  # the verified manifest's file list, once read
        self.checked = set()  # indices of files whose hash was checked in this boot
        self._hash = None  # (file index, bytes hashed, sha256) of the file being fetched
        self.piece = _PIECE
        self._piece_buffer = None

    def busy(self):
        return self.stage is not None

    def describe(self):
        if self.stage is None:
            return None
        done = len(self.checked)
        total = len(self.files) if self.files is not None else "?"
        return "%s (%s of %s files)" % (self.stage["version"], done, total)

    def advance(self, link, deadline, check):
        """Take the update as far as the deadline allows; True once the switch is made."""
        tidy()
        stage = self.stage
        if stage is None or stage["version"] in _rejected():
            self._drop()
            if not check:
                return False
            stage = self.stage = self._offered(link, deadline())
            if stage is None:
                return False
        try:
            return self._advance(stage, link, deadline)
        except Refused as e:
            version = stage["version"]
            log("update: refusing version %s: %s; the running version is untouched" % (version, e))
            if e.lasting:
                slots.reject(version, str(e), self.running)
            self._drop()
            return False

    def _advance(self, stage, link, deadline):
        folder = stage["folder"]
        if not stage["verified"]:
            path = _release_path(self.u, stage["version"]) + "/manifest"
            if not self._fetch(link, deadline, path, folder + "/" + _MANIFEST, stage["size"]):
                return False
            if deadline() - self.u.clock.monotonic_ms() < _VERIFY_MS:
                return False
            self.files = self._verify_manifest(stage, folder)
            stage["verified"] = True
            atomic.write_json(STAGE_FILE, stage)
        files = self.files
        if files is None:
            files = self.files = _read_manifest(folder)["files"]
        for index, (path, size, digest) in enumerate(files):
            if index in self.checked:
                continue
            url = "%s/files/%d" % (_release_path(self.u, stage["version"]), index)
            local = folder + "/" + path
            if not self._fetch(link, deadline, url, local, size, index):
                return False
            if self._digest(index, local, size) != digest:
                raise Refused("the SHA-256 of %s differs from the signed manifest" % path)
            self.checked.add(index)
            self._hash = None
        slots.switch(folder, stage["version"], self.running)
        atomic.remove_quietly(STAGE_FILE)
        log(
            "update: version %s downloaded and verified (%d files); restarting into it"
            % (stage["version"], len(files))
        )
        self.stage = None
        return True

    # -- the channel ------------------------------------------------------------------------
    def _offered(self, link, deadline_ms):
        """A new stage record for the version the channel offers, or None."""
        u = self.u
        path = "%s/%s/channels/%s" % (u.path, u.board["name"], u.config.get("channel", "stable"))
        reply, outcome = _get(link, path, deadline_ms, None, fields=_OFFER_FIELDS)
        if reply.status == 404:
            return None
        if outcome != outcomes.OK:
            raise outcomes.failure(outcome, "update check", reply)
        offer = reply.json()
        if not isinstance(offer, dict):
            raise LinkError("update check: the cloud's offer is not JSON", outcomes.GARBAGE)
        version = offer.get("version")
        if version == self.running or version in _rejected() or manifest.check_version(version):
            return None
        size = offer.get("manifest_size")
        signature = offer.get("signature")
        if not isinstance(size, int) or not 0 < size <= _MANIFEST_MAX:
            raise LinkError(
                "update check: the cloud's manifest size is not 1-%d" % _MANIFEST_MAX,
                outcomes.GARBAGE,
            )
        if not isinstance(signature, str) or len(signature) != 128:
            raise LinkError(
                "update check: the cloud's signature is not 128 hex digits", outcomes.GARBAGE
            )
        folder = slots.free_folder()
        remove_tree(folder)
        _make_dirs(folder)
        stage = {
            "version": version,
            "folder": folder,
            "size": size,
            "signature": signature,
            "verified": False,
        }
        atomic.write_json(STAGE_FILE, stage)
        log("update: version %s is offered (running %s); downloading it" % (version, self.running))
        return stage

    # -- the manifest -----------------------------------------------------------------------
    def _verify_manifest(self, stage, folder):
        from tempnode import ed25519

        path = folder + "/" + _MANIFEST
        try:
            key = binascii.unhexlify(self.u.config["public_key"])
            signature = binascii.unhexlify(stage["signature"])
        except ValueError:
            raise Refused("its signature is not hexadecimal")
        message = manifest.signed_message(_hash_file(path, stage["size"]).digest())
        good = ed25519.verify(key, message, signature, self.u.feed)
        forget_modules(("ed25519", "sha512"))
        if not good:
            raise Refused("the manifest's signature does not verify with ota.public_key")
        try:
            parsed = _read_manifest(folder)
        except ValueError:
            raise Refused("its signed manifest is not JSON")
        why = manifest.problem(parsed, self.u.board["name"], sys.implementation.version)
        if why is None and parsed["version"] != stage["version"]:
            why = "its manifest names version %s" % parsed["version"]
        if why:
            raise Refused(why)
        _check_room(parsed, folder)
        for path, _size, _digest in parsed["files"]:
            _make_dirs(folder + "/" + path.rsplit("/", 1)[0])
        log(
            "update: version %s: signature verified, %d files, %d bytes to fetch"
            % (stage["version"], len(parsed["files"]), manifest.total_bytes(parsed))
        )
        return parsed["files"]

    # -- pieces -----------------------------------------------------------------------------
    def _fetch(self, link, deadline, path, local, size, index=None):
        """Append pieces to `local` until it holds `size` bytes; False when time ran out."""
        have = _size_of(local)
        if have > size:
            raise Refused("%s on flash is longer than the manifest says" % local)
        if have == size:
            if not size:
                open(local, "ab").close()  # an empty module is still a file of the bundle
            return True
        hasher = None if index is None else self._resume_hash(index, local, have)
        clock = self.u.clock
        with open(local, "ab") as f:
            while have < size:
                deadline_ms = deadline()
                if deadline_ms - clock.monotonic_ms() < _MIN_PIECE_MS:
                    return False
                self.u.feed()
                want = min(self.piece, size - have)
                try:
                    buffer = self._buffer(want)
                    body = _piece(link, path, deadline_ms, have, buffer, size)
                except MemoryError:
                    if not self._smaller_pieces():
                        return False  # the next session, with a heap in another state
                    continue
                try:
                    f.write(body)
                except OSError as e:
                    if e.errno == _ENOSPC:
                        raise Refused("the flash is full", False)
                    raise
                have += len(body)
                if hasher is not None:
                    hasher.update(body)
                    self._hash = (index, have, hasher)
        return True

    def _buffer(self, size):
        """A piece buffer of `size` bytes: a view of one held for the staging's life (made at
        the first piece, again smaller when the heap had not got room for it)."""
        if self._piece_buffer is None or len(self._piece_buffer) < self.piece:
            self._piece_buffer = None
            self._piece_buffer = bytearray(self.piece)
        return memoryview(self._piece_buffer)[:size]

    def _smaller_pieces(self):
        self._piece_buffer = None
        gc.collect()
        if self.piece <= _PIECE_MIN:
            return False
        self.piece //= 2
        log("update: the heap is short of room: pieces of %d bytes from now on" % self.piece)
        return True

    def _resume_hash(self, index, local, have):
        """The SHA-256 of what `local` holds, from RAM if this boot has been hashing it."""
        cached = self._hash
        if cached is not None and cached[0] == index and cached[1] == have:
            return cached[2]
        self._hash = (index, have, _hash_file(local, have))
        return self._hash[2]

    def _digest(self, index, local, size):
        cached = self._hash
        if cached is not None and cached[0] == index and cached[1] == size:
            return binascii.hexlify(cached[2].digest()).decode()
        return binascii.hexlify(_hash_file(local, size).digest()).decode()

    def abandon(self):
        """Forget the download after an unexpected failure (it starts over at the next check)."""
        try:
            self._drop()
        except OSError:
            pass  # the flash refuses even this: the next check finds the stage and drops it

    def _drop(self):
        if self.stage is not None:
            remove_tree(self.stage["folder"])
        atomic.remove_quietly(STAGE_FILE)
        self.stage = None
        self.files = None
        self.checked = set()
        self._hash = None


def describe_on_flash():
    """The version being staged, as the flash says (before this boot's first step)."""
    stage = atomic.read_json(STAGE_FILE) if slots.staging_in_progress() else None
    return None if stage is None else "%s (download under way)" % stage["version"]


def tidy():
    """Delete every bundle the pointer can no longer boot: the previous version once the new
    one is confirmed, a rolled-back version, the deployed bundle once an update replaced it.
    A power cut half way leaves files nothing boots; the next tidy finishes the job."""
    in_use = slots.folders_in_use()
    stage = atomic.read_json(STAGE_FILE) if slots.staging_in_progress() else None
    for folder in slots.FOLDERS:
        if folder not in in_use and (stage is None or stage["folder"] != folder):
            remove_tree(folder)
    if "" not in in_use:
        remove_tree("tempnode")


def remove_tree(path):
    """Remove a file or a folder with everything in it; nothing when it does not exist."""
    try:
        mode = os.stat(path)[0]
    except OSError:
        return
    if mode & 0x4000:  # S_IFDIR
        for name in os.listdir(path):
            remove_tree(path + "/" + name)
        os.rmdir(path)
    else:
        os.remove(path)


def _no_body():
    return None


def _get(link, path, deadline_ms, headers, **reply):
    """`(reply, outcome)` of a GET with the device's bearer token (renewed if rejected)."""
    return link.tokens.resource(link.session, "GET", path, _no_body, deadline_ms, headers, **reply)


def _piece(link, path, deadline_ms, start, buffer, size):
    """Bytes start..start+len(buffer)-1 of a file of `size` bytes, exactly, into `buffer` (a
    memoryview of the received bytes is returned), or an exception."""
    want = len(buffer)
    headers = {"Range": "bytes=%d-%d" % (start, start + want - 1)}
    try:
        reply, outcome = _get(link, path, deadline_ms, headers, into=buffer)
    except HttpError as e:
        if e.kind != "too_large":
            raise
        raise Refused("the cloud's copy of %s is longer than the manifest says" % path)
    body = reply.body
    if reply.status == 206 and len(body) == want:
        return body
    if reply.status == 200 and start == 0 and want == size and len(body) == size:
        return body  # a server that ignores Range may send a small file whole
    if reply.status == 416 or (reply.status in (200, 206) and len(body) < want):
        raise Refused("the cloud's copy of %s is shorter than the manifest says" % path)
    if reply.status == 404:
        raise Refused("the cloud no longer has it", False)
    raise outcomes.failure(outcome, "update download", reply)


def _check_room(parsed, folder):
    """Refuse a bundle the flash has no room for, keeping room for the spool: each file
    rounded up to whole blocks, a quarter more and 4 blocks for littlefs's metadata (measured:
    the 35 files of the firmware's package take 47 blocks of 4 KiB, their sizes rounded up
    44; an earlier 32 took 48 for 37)."""
    stat = os.statvfs(folder)
    block = stat[1] or stat[0]
    blocks = 0
    for _path, size, _digest in parsed["files"]:
        blocks += (size + block - 1) // block
    need = (blocks + blocks // 4 + 4 + _SPOOL_RESERVE_BLOCKS) * block
    free = stat[4] * block
    if need > free:
        raise Refused(
            "the flash is full: it needs %d KB, %d KB are free (kept for readings)"
            % (need // 1024, free // 1024),
            False,
        )


def _hash_file(path, length):
    h = hashlib.sha256()
    if not length:
        return h
    buffer = bytearray(_HASH_CHUNK)
    view = memoryview(buffer)
    left = length
    with open(path, "rb") as f:
        while left > 0:
            n = f.readinto(buffer)
            if not n:
                break
            n = min(n, left)
            h.update(view[:n])
            left -= n
    return h


def _read_manifest(folder):
    with open(folder + "/" + _MANIFEST) as f:
        return json.load(f)


def _release_path(updates, version):
    return "%s/%s/releases/%s" % (updates.path, updates.board["name"], version)


def _rejected():
    state = slots.state()
    return (state or {}).get("rejected") or {}


def _size_of(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return 0


def _make_dirs(path):
    done = ""
    for part in path.split("/"):
        done = done + "/" + part if done else part
        try:
            os.mkdir(done)
        except OSError:
            pass  # there already (a full flash shows at the first file written into it)
