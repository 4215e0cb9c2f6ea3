"""`tempnode deploy`: put the firmware, config, secrets and CA on a board, changed files only.

Steps: validate the device folder; check the board runs a MicroPython whose port and mpy version
match the board file; build the `.mpy` bundle; hash every target file on the board (SHA-256,
one round trip) and copy only those that differ; soft-reset so the firmware starts.

Every file is written the power-safe way: to `<name>.tmp`, its hash checked on the board, then
`os.rename` over the old one (atomic on littlefs). mpremote's `fs_writefile` alone writes in
place, so a deploy cut off by a pulled cable would leave half a config.json. Secrets travel
only as secrets.json: a code-bundle file containing a secret's value stops the deploy.
`credential.json` is never touched (it belongs to `tempnode provision` and the device).

Updates: with a cloud that offers them, the publisher's public key (`release_key`, made on
first use) goes into the config.json the board gets (`ota.public_key`), unless the folder's
config names one. A deploy is what the board runs from then on: an update it had switched to
(`ota/`) is forgotten, so the bundle just copied is the one that boots.
"""

import hashlib
import json
import tempfile
from pathlib import Path

from mpremote.transport import TransportError

from . import release_key
from .boards import load_board
from .build import build
from .device import add_board_arguments, connect
from .errors import UserError
from .validate import CONFIG, SECRETS, default_port, firmware_module, load_folder, read_json

TMP_SUFFIX = ".tmp"  # the same suffix as the firmware's tempnode.atomic

# Defined once per raw-REPL session. `_tn_hash` returns None for a missing file.
DEVICE_HELPERS = """\
import os, hashlib
def _tn_hash(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(m[:n])
    f.close()
    return h.digest()
def _tn_forget(p):
    try:
        os.remove(p)
    except OSError:
        pass
def _tn_commit(tmp, path, digest):
    if _tn_hash(tmp) != digest:
        _tn_forget(tmp)
        raise OSError('copy of ' + path + ' arrived damaged')
    os.rename(tmp, path)
def _tn_rmtree(p):
    try:
        if os.stat(p)[0] & 0x4000:
            for n in os.listdir(p):
                _tn_rmtree(p + '/' + n)
            os.rmdir(p)
        else:
            os.remove(p)
        return True
    except OSError:
        return False
def _tn_mkdirs(dirs):
    for d in dirs:
        try:
            os.mkdir(d)
        except OSError:
            pass
"""


def compact_json(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def board_config(folder):
    """config.json as the board gets it: with the release key when the cloud offers updates."""
    config = read_json(folder / CONFIG)
    profiles = firmware_module("profiles")
    name = config["cloud"]["profile"]
    offers_updates = name in profiles.NAMES and profiles.get(name)["ota_path"]
    ota = config.setdefault("ota", {})
    if offers_updates and "public_key" not in ota:
        ota["public_key"] = release_key.public_hex(release_key.load_or_create())
    if not ota:
        del config["ota"]
    return config


def data_files(folder, config):
    """The device folder's files as they go to the board: config, secrets, CA."""
    files = [
        (CONFIG, compact_json(board_config(folder))),
        (SECRETS, compact_json(read_json(folder / SECRETS))),
    ]
    ca = config["cloud"].get("ca")
    if ca:
        files.append((ca, (folder / ca).read_bytes()))
    return files


def bundle_files(board_name):
    """The built code bundle as (device path, bytes), from a private build folder (a `make
    build` running meanwhile rewrites build/)."""
    with tempfile.TemporaryDirectory(prefix="tempnode-deploy-") as scratch:
        out_dir, files = build(board_name, out_root=Path(scratch))
        return [(name, (out_dir / name).read_bytes()) for name, _size in files]


def secret_values(secrets):
    values = list(secrets.get("wifi", {}).values())
    values += [v for k, v in secrets.items() if k != "wifi"]
    # Very short values (an open network's "") would match by chance.
    return [v.encode() for v in values if isinstance(v, str) and len(v) >= 4]


def refuse_secrets_in_bundle(bundle, secrets):
    for value in secret_values(secrets):
        for name, data in bundle:
            if value in data:
                raise UserError(
                    f"firmware file {name} contains a value from secrets.json: remove it; "
                    "secrets go to the board only as secrets.json"
                )


def install_helpers(board):
    """Define the board-side file helpers for this raw-REPL session."""
    board.exec(DEVICE_HELPERS)


def device_hashes(board, paths):
    """SHA-256 of each path on the board (None when missing); stale temporaries removed."""
    install_helpers(board)
    return board.eval(
        f"[(_tn_forget(p + {TMP_SUFFIX!r}), _tn_hash(p))[1] for p in {list(paths)!r}]"
    )


def write_atomic(board, path, data):
    """Write `path` on the board: temporary name, hash check there, then rename."""
    tmp = path + TMP_SUFFIX
    try:
        board.transport.fs_writefile(tmp, data, chunk_size=512)
    except TransportError as exc:
        raise UserError(f"lost the board on {board.port} while copying {path} ({exc})") from None
    board.exec(f"_tn_commit({tmp!r}, {path!r}, {hashlib.sha256(data).digest()!r})")


def deploy(folder, port, reset=True):
    """Deploy `folder` to the board on `port`; return (copied, unchanged) file counts."""
    config, secrets = load_folder(folder)
    board_facts = load_board(config["board"])
    with connect(port) as board:
        board.check_runs(board_facts)
        print(f"building for {config['board']} ...", flush=True)
        bundle = bundle_files(config["board"])
        refuse_secrets_in_bundle(bundle, secrets)
        files = bundle + data_files(folder, config)
        hashes = device_hashes(board, [name for name, _ in files])
        changed = [
            (name, data)
            for (name, data), have in zip(files, hashes, strict=True)
            if have != hashlib.sha256(data).digest()
        ]
        dirs = sorted({name.rsplit("/", 1)[0] for name, _ in changed if "/" in name})
        board.exec(f"_tn_mkdirs({dirs!r})")
        sent = 0
        for number, (name, data) in enumerate(changed, 1):
            print(f"  [{number}/{len(changed)}] {name} ({len(data)} B)", flush=True)
            write_atomic(board, name, data)
            sent += len(data)
        if board.eval("_tn_rmtree('ota')"):
            print("  the board had switched to an update: it runs this bundle now", flush=True)
        print(
            f"deployed to {board.port}: {len(changed)} copied ({sent} B), "
            f"{len(files) - len(changed)} unchanged",
            flush=True,
        )
        if reset:
            board.soft_reset()
            print("soft reset: the firmware is starting", flush=True)
    return len(changed), len(files) - len(changed)


def run(args):
    deploy(args.dir, default_port(args))


def register(subparsers):
    p = subparsers.add_parser("deploy", help="copy firmware, config and secrets to a board")
    add_board_arguments(p)
    p.set_defaults(func=run)
