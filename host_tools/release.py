"""`tempnode release`: publish a signed firmware update for a device's board, list what runs where.

    tempnode release publish --dir logger-01 [--channel stable]
    tempnode release list

`publish` builds the `.mpy` bundle for the folder's board (`tempnode build`), writes the
manifest (version, board, the oldest MicroPython that loads its .mpy files, every file of the
`tempnode/` package with its size and SHA-256; `firmware/tempnode/manifest.py` is the format,
and its device-side check runs here on the result), signs it with the publisher's key
(`release_key`, made on first use) and hands manifest, signature and files to the dev cloud,
which sets the channel to this version for that board. Boards on the channel find it at their
next check (`ota.check_interval_s`), verify the signature themselves and switch.

`list` shows the releases the cloud holds and, per device, the version its last batch said it
runs and how its last update ended.
"""

import base64
import hashlib
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from . import release_key
from .build import PACKAGE, build, bundle_version
from .device import add_dir_argument
from .errors import UserError
from .paths import FIRMWARE, cloud_dir
from .validate import firmware_module, load_folder

# The first MicroPython release that loads each .mpy version (boards/*.json `mpy_version`).
MICROPYTHON_SINCE = {"6.3": [1, 23, 0]}
DEFAULT_CHANNEL = "stable"


def build_release(board, firmware_root=FIRMWARE):
    """(manifest bytes, {path: file bytes}) for the package as built for `board`."""
    from .boards import load_board

    facts = load_board(board)
    since = MICROPYTHON_SINCE.get(facts["mpy_version"])
    if since is None:
        raise UserError(f"no known MicroPython release loads mpy v{facts['mpy_version']}")
    with tempfile.TemporaryDirectory(prefix="tempnode-release-") as scratch:
        out_dir, files = build(board, out_root=Path(scratch), firmware_root=firmware_root)
        version = bundle_version(board, out_dir, files)
        package = {
            name: (out_dir / name).read_bytes() for name, _ in files if name.startswith(PACKAGE)
        }
    schema = firmware_module("manifest")
    manifest = {
        "format": schema.FORMAT,
        "version": version,
        "board": board,
        "micropython": since,
        "files": [
            [name, len(data), hashlib.sha256(data).hexdigest()]
            for name, data in sorted(package.items())
        ],
    }
    problem = schema.problem(manifest, board, since)
    if problem:
        raise UserError(f"the release cannot be installed: {problem}")
    return schema.encode(manifest), package


def publish(folder, channel, admin, firmware_root=FIRMWARE, out=print):
    """Build, sign and publish the folder's board's bundle; returns the version."""
    config, _secrets = load_folder(folder)
    cloud = config["cloud"]
    if not firmware_module("profiles").get(cloud["profile"])["ota_path"]:
        raise UserError(
            f"the cloud profile {cloud['profile']} offers no firmware updates: "
            "use a cloud with profile oauth2 (the dev cloud), or deploy over USB"
        )
    if urlsplit(cloud["base_url"]).netloc != urlsplit(admin.base_url).netloc:
        raise UserError(
            f"{folder}'s cloud is {cloud['base_url']}, but the dev cloud found is "
            f"{admin.base_url}: pass the --cloud-dir it runs from"
        )
    key = release_key.load_or_create()
    public = release_key.public_hex(key)
    named = config.get("ota", {}).get("public_key")
    if named and named != public:
        raise UserError(
            f"{folder}/config.json trusts another publisher key ({named[:16]}...): "
            f"sign with that key (TEMPNODE_RELEASE_KEY) or remove ota.public_key and deploy"
        )
    manifest, package = build_release(config["board"], firmware_root)
    signature = key.sign(
        firmware_module("manifest").signed_message(hashlib.sha256(manifest).digest())
    )
    reply = admin.publish_release(
        {
            "channel": channel,
            "manifest": manifest.decode(),
            "signature": signature.hex(),
            "files": {name: base64.b64encode(data).decode() for name, data in package.items()},
        }
    )
    out(
        f"published version {reply['version']} for board {reply['board']} on channel "
        f"{channel}: {len(package)} files, {sum(map(len, package.values()))} B, signed by "
        f"key {public[:16]}..."
    )
    out(f"boards on {channel} take it at their next update check (ota.check_interval_s)")
    return reply["version"]


def format_listing(listing):
    lines = ["releases:"]
    for r in listing["releases"]:
        channels = ", ".join(r["channels"]) or "-"
        lines.append(
            f"  {r['version']:<24} {r['board']:<16} {r['files']:>3} files {r['bytes']:>7} B"
            f"  channels: {channels}"
        )
    if not listing["releases"]:
        lines.append("  (none: tempnode release publish --dir DEVICE_DIR)")
    lines.append("devices:")
    for d in listing["devices"]:
        update = ""
        if d.get("update_version"):
            update = f"  last update {d['update_version']}: {d['update_outcome']}"
            if d.get("update_reason"):
                update += f" ({d['update_reason']})"
        lines.append(f"  {d['device_id']:<24} runs {d['running'] or '?':<24}{update}")
    if not listing["devices"]:
        lines.append("  (no device has sent a batch yet)")
    return "\n".join(lines)


def _admin(args):
    from .cloud.admin_client import AdminClient

    return AdminClient.from_data_dir(args.cloud_dir)


def _publish(args):
    publish(args.dir, args.channel, _admin(args))


def _list(args):
    print(format_listing(_admin(args).releases()))


def register(subparsers):
    p = subparsers.add_parser("release", help="publish signed firmware updates, list versions")
    commands = p.add_subparsers(dest="release_command", required=True, metavar="COMMAND")
    pub = commands.add_parser("publish", help="build, sign and publish the board's bundle")
    add_dir_argument(pub)
    pub.add_argument("--channel", default=DEFAULT_CHANNEL, help="release channel (stable)")
    lst = commands.add_parser("list", help="releases, and the version each device runs")
    for sub in (pub, lst):
        sub.add_argument(
            "--cloud-dir",
            type=Path,
            default=cloud_dir(),
            help=f"the dev cloud's data directory (default {cloud_dir()})",
        )
    pub.set_defaults(func=_publish)
    lst.set_defaults(func=_list)
