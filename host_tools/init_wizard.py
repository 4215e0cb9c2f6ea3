"""`tempnode init`: the wizard that writes a device folder (config.json, secrets.json, ca.der).

Every answer is checked as soon as it is given, by the firmware's own validator, and asked
again when wrong. Each question has a flag, so the wizard also runs with no terminal at all
(then a wrong or missing answer is an error). Secrets go to `secrets.json` (mode 600, listed
in the folder's `.gitignore`); nothing is overwritten without `--force`.
"""

import getpass
import json
import os
import ssl
import sys

from .boards import board_names
from .device import add_dir_argument
from .errors import UserError
from .practice_board import PORT_NAME
from .validate import (
    CONFIG,
    LOCAL,
    SECRETS,
    ca_problem,
    catalogue,
    config_schema,
    read_json,
    write_private,
)

CA_FILE = "ca.der"
# The README's order ("First board", steps 4 and 5): the code and config, then the credential.
NEXT_STEPS = (
    "tempnode deploy --dir {dir}, then tempnode provision --dir {dir}, "
    "then tempnode run --dir {dir}"
)
GITIGNORE = "# Written by tempnode init: secrets never belong in git.\nsecrets.json\n"
GITIGNORE += "credential.json\nlocal.json\n*.tmp\n"
# Questions only some dialects ask (the flag is the field's name).
DIALECT_FIELDS = {
    "usergrid": (("cloud.org", "Usergrid organization"), ("cloud.app", "Usergrid application")),
    "speckle": (("cloud.app_id", "Speckle application id"),),
}
# The secrets.json key for a dialect's static client secret, and whether it must be given.
CLIENT_SECRET = {
    "oauth2": ("client_secret", False),
    "spark2014": ("client_secret", False),  # the seed's shared client: spark / spark
    "particle": ("client_secret", True),
    "usergrid": ("client_secret", True),
    "speckle": ("app_secret", True),
}


class Wizard:
    def __init__(self, interactive):
        self.interactive = interactive
        self.config = {"cloud": {}, "sensors": {}}
        self.secrets = {"wifi": {}}
        self.boards = catalogue()

    def problems_for(self, field):
        found = config_schema().check(self.config, self.boards)
        return [p for p in found if p.startswith((field + " ", field + "."))]

    def ask(self, prompt, given, default=None, secret=False):
        """The flag's value, else the user's answer (default on empty), else the default."""
        if given is not None:
            return given
        if not self.interactive:
            if default is None:
                raise UserError(f"{prompt} is needed: give it as a flag (see tempnode init -h)")
            return default
        suffix = f" [{default}]" if default is not None and not secret else ""
        read = getpass.getpass if secret else input
        return read(f"{prompt}{suffix}: ").strip() or (default if default is not None else "")

    def field(self, path, prompt, given, default=None, convert=str):
        """Ask until the validator accepts `path`'s answer."""
        section, _, name = path.rpartition(".")
        target = self.config[section] if section else self.config
        while True:
            raw = self.ask(prompt, given, default)
            try:
                target[name] = convert(raw)
                problems = self.problems_for(path)
            except ValueError:
                problems = [f"{path} is {raw!r}, expected a whole number"]
            if not problems:
                return target[name]
            if not self.interactive:
                raise UserError(problems[0])
            print("  " + problems[0])
            given = None


def _pairs(values, what):
    """['a=b', ...] into [(a, b)]; a missing '=b' gives (a, None)."""
    out = []
    for value in values or ():
        key, sep, rest = value.partition("=")
        if not key:
            raise UserError(f"{what} {value!r} is not NAME=VALUE")
        out.append((key, rest if sep else None))
    return out


def _ask_wifi(w, args):
    networks = _pairs(args.wifi, "--wifi")
    while w.interactive and not args.wifi:
        ssid = w.ask("Wi-Fi network name (empty when done)", None, default="")
        if not ssid:
            break
        networks.append((ssid, None))
    w.config["wifi"] = [{"ssid": ssid} for ssid, _ in networks]
    _ask_wifi_passwords(w, networks)
    problems = w.problems_for("wifi")
    if problems:
        raise UserError(f"{problems[0]} (give networks with --wifi SSID=PASSWORD)")


def _ask_wifi_passwords(w, networks):
    """Each network's password: given as SSID=PASSWORD (SSID= for an open network), else
    asked; never taken to be open by silence."""
    for ssid, password in networks:
        if password is None and not w.interactive:
            raise UserError(
                f"--wifi {ssid} has no password: give --wifi {ssid}=PASSWORD "
                f"(--wifi {ssid}= for an open network)"
            )
        if password is None:
            password = w.ask(f"Password for {ssid} (empty if open)", None, "", secret=True)
        w.secrets["wifi"][ssid] = password


def _from_cloud(path):
    """The answers a `tempnode cloud device add --out` file holds: the device's id, its
    cloud's profile, URL, client and CA."""
    try:
        created = json.loads(open(path).read())
        cloud = created["cloud"]
        answers = {
            "device_id": created["device_id"],
            "profile": created["profile"],
            "base_url": cloud["base_url"],
            "client_id": created["client_id"],
            "client_secret": created.get("client_secret"),
            "ca": cloud.get("ca_der"),
            "org": created.get("org"),
            "app": created.get("app"),
        }
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise UserError(
            f"{path} is not a file from `tempnode cloud device add --out`: "
            "give the cloud's answers as flags instead"
        ) from None
    if answers["profile"] == "speckle":
        answers["app_id"] = created["client_id"]
    return answers


def _apply_from_cloud(args):
    """Flags the user gave win over the file's answers."""
    if args.from_cloud is None:
        return
    for name, value in _from_cloud(args.from_cloud).items():
        if getattr(args, name, None) is None and value is not None:
            setattr(args, name, value)


def _ask_cloud(w, args):
    profile = w.field("cloud.profile", "Cloud profile", args.profile, "oauth2")
    url = w.field("cloud.base_url", "Cloud base URL", args.base_url)
    for flag in ("insecure_http", "insecure_tls"):
        if getattr(args, flag):
            w.config["cloud"][flag] = True
    w.field("cloud.client_id", "OAuth client id", args.client_id)
    for path, prompt in DIALECT_FIELDS.get(profile, ()):
        w.field(path, prompt, getattr(args, path.split(".")[1]))
    key, required = CLIENT_SECRET.get(profile, (None, False))
    if key is not None:
        default = None if required else ""
        secret = args.client_secret
        if secret is None:
            secret = w.ask(f"{key} (from the cloud's console)", None, default, secret=True)
        if secret:
            w.secrets[key] = secret
    if url.startswith("https://"):
        w.config["cloud"]["ca"] = CA_FILE
        return _read_ca(w.ask("CA certificate file (PEM or DER)", args.ca))
    return None


def _read_ca(path):
    """The CA certificate at `path` as DER, converting PEM."""
    try:
        data = open(path, "rb").read()
    except OSError as exc:
        raise UserError(f"cannot read the CA certificate {path}: {exc.strerror}") from None
    if data.lstrip().startswith(b"-----BEGIN CERTIFICATE"):
        try:
            data = ssl.PEM_cert_to_DER_cert(data.decode("ascii"))
        except ValueError:
            raise UserError(f"{path} is not a PEM certificate") from None
    problem = ca_problem(data, path)
    if problem:
        raise UserError(problem)
    return data


def _ask_sensors(w, args):
    entries = _pairs(args.sensor, "--sensor")
    while w.interactive and not args.sensor:
        rom = w.ask("Sensor ROM, 16 hex digits (empty when done)", None, default="")
        if not rom:
            break
        entries.append((rom.lower(), w.ask("  its label", None)))
    for rom, label_res in entries:
        label, _, res = (label_res or "").partition(":")
        sensor = {"label": label}
        if res:
            sensor["resolution"] = int(res) if res.isdigit() else res
        w.config["sensors"][rom] = sensor
    problems = w.problems_for("sensors")
    if problems:
        raise UserError(f"{problems[0]} (give sensors with --sensor ROM=LABEL[:BITS])")


def refuse_overwrite(folder, force):
    existing = [name for name in (CONFIG, SECRETS) if (folder / name).exists()]
    if existing and not force:
        raise UserError(
            f"{folder / existing[0]} already exists: use --force to replace it "
            "(its secrets are lost)"
        )


def _port_note(port):
    """A word about a port that is not there now (the folder can be made before the board
    is plugged in: the port is only used by deploy, provision, logs...)."""
    if port in ("auto", PORT_NAME) or os.path.exists(port):
        return ""
    return f" ({port} is not there now: plug the board in before you deploy)"


def write_secrets_only(folder):
    """secrets.json for the config.json already in `folder`: its networks' passwords and
    the client secret its profile needs."""
    if (folder / SECRETS).exists():
        raise UserError(f"{folder / SECRETS} already exists: edit it, or remove it first")
    config = read_json(folder / CONFIG)
    if not isinstance(config, dict):
        raise UserError(f"{folder / CONFIG} is not a JSON object: fix it, or rerun init --force")
    w = Wizard(interactive=sys.stdin.isatty())
    w.config = config
    ssids = [n.get("ssid") for n in config.get("wifi") or () if isinstance(n, dict)]
    _ask_wifi_passwords(w, [(ssid, None) for ssid in ssids if isinstance(ssid, str)])
    key, required = CLIENT_SECRET.get(config.get("cloud", {}).get("profile"), (None, False))
    if key is not None:
        secret = w.ask(f"{key} (from the cloud's console)", None, None if required else "", True)
        if secret:
            w.secrets[key] = secret
    write_private(folder / SECRETS, (json.dumps(w.secrets, indent=2) + "\n").encode())
    print(f"wrote {folder / SECRETS} (mode 600) for {folder / CONFIG}")


def run(args):
    folder = args.dir
    if args.secrets_only:
        write_secrets_only(folder)
        return
    refuse_overwrite(folder, args.force)
    _apply_from_cloud(args)
    w = Wizard(interactive=sys.stdin.isatty())
    names = ", ".join(board_names())
    w.field("board", f"Board ({names})", args.board)
    port = w.ask(f"Serial port (or auto, or {PORT_NAME})", args.port, default="auto")
    w.field("device_id", "Device id", args.device_id, default=f"{w.config['board']}-1")
    _ask_wifi(w, args)
    ca = _ask_cloud(w, args)
    _ask_sensors(w, args)
    w.field("sample_interval_s", "Seconds between readings", args.sample_interval, "60", int)
    w.config["upload"] = {}
    w.field("upload.interval_s", "Seconds between uploads", args.upload_interval, "300", int)
    schema = config_schema()
    problems = schema.check(w.config, w.boards) + schema.check_secrets(w.secrets, w.config)
    if problems:
        raise UserError(problems[0])
    folder.mkdir(parents=True, exist_ok=True)
    write_private(folder / SECRETS, (json.dumps(w.secrets, indent=2) + "\n").encode())
    (folder / CONFIG).write_text(json.dumps(w.config, indent=2) + "\n")
    (folder / LOCAL).write_text(json.dumps({"port": port}) + "\n")
    if ca is not None:
        (folder / CA_FILE).write_bytes(ca)
    if not (folder / ".gitignore").exists():
        (folder / ".gitignore").write_text(GITIGNORE)
    print(f"wrote {folder / CONFIG}, {folder / SECRETS} (mode 600)", end="")
    print(f", {folder / CA_FILE}" if ca is not None else "", end="")
    print(f"; port {port}{_port_note(port)}")
    print(f"next: {NEXT_STEPS.format(dir=folder)}")


def register(subparsers):
    p = subparsers.add_parser("init", help="write a device folder: config, secrets, CA")
    add_dir_argument(p)
    p.add_argument("--force", action="store_true", help="replace an existing config and secrets")
    p.add_argument(
        "--secrets-only",
        action="store_true",
        help="write only secrets.json, for the config.json the folder has",
    )
    p.add_argument(
        "--from-cloud",
        metavar="FILE",
        help="take the device id, cloud profile, URL, client and CA from a "
        "`tempnode cloud device add --out` file",
    )
    p.add_argument("--board", help="board name from `tempnode boards`")
    p.add_argument("--port", help=f"the board's serial port, auto, or {PORT_NAME}")
    p.add_argument("--device-id", help="the device's name in the cloud, e.g. logger-01")
    p.add_argument("--wifi", action="append", metavar="SSID=PASSWORD", help="repeat per network")
    p.add_argument("--profile", help="oauth2, particle, spark2014, usergrid or speckle")
    p.add_argument("--base-url", help="the cloud's base URL, https://...")
    p.add_argument("--client-id", help="the OAuth client id")
    p.add_argument("--client-secret", help="the static client secret (stored in secrets.json)")
    p.add_argument("--org", help="Usergrid organization")
    p.add_argument("--app", help="Usergrid application")
    p.add_argument("--app-id", help="Speckle application id")
    p.add_argument("--ca", help="the cloud's CA certificate, PEM or DER (copied as ca.der)")
    p.add_argument("--insecure-tls", action="store_true", help="do not verify TLS (ESP8266 only)")
    p.add_argument("--insecure-http", action="store_true", help="allow a plain http:// cloud")
    p.add_argument("--sensor", action="append", metavar="ROM=LABEL[:BITS]", help="repeatable")
    p.add_argument("--sample-interval", help="seconds between readings (default 60)")
    p.add_argument("--upload-interval", help="seconds between uploads (default 300)")
    p.set_defaults(func=run)
