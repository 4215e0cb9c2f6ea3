"""`tempnode provision`: get the device its stored refresh credential; no password reaches it.

Ways, picked per cloud dialect (`--via` overrides):

- `device-flow` (oauth2, particle): RFC 8628 on the host: prints the URL and the code, polls.
- `password` (spark2014, usergrid): one password grant on the host; the password stays here.
- `speckle`: authorization code with a challenge: open the URL, paste the access code.
- `paste` (any): a credential JSON, or a bare refresh token, pasted on stdin.
- `on-device` (any): runs `tempnode.provision()` on the board and relays what it prints.

Every request goes where the device's would: the config's `token_url` and
`device_authorization_url` (or the dialect's paths on `base_url`'s server), with its `scope` and
`client_auth` (`tempnode.token_client`). A grant that yields no refresh token where the device
renews with one is refused in one sentence naming the likely cause (`offline_access`, or the
server's refresh-token setting), as the device's own device flow says it, and nothing is
stored. `--check` renews once from the laptop before the board gets the credential and says
what the server did (`tempnode.provision_check`).

The credential is written to the board's `credential.json` atomically (temporary name, hash
check on the board, rename), in the format `firmware/tempnode/credential_store.py` documents.
Nothing here prints a token: only its kind.
"""

import getpass
import json
import secrets as random_tokens
import sys
import time

from . import discovery, provision_check
from .deploy import install_helpers, write_atomic
from .device import add_board_arguments, connect, open_serial
from .errors import UserError
from .token_client import Cloud, credential_from, refused
from .validate import CREDENTIAL, default_port, load_folder, write_private

DEFAULT_VIA = {
    "oauth2": "device-flow",
    "particle": "device-flow",
    "spark2014": "password",
    "usergrid": "password",
    "speckle": "speckle",
}
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MAX_WAIT_S = 900  # give up a device flow the user never approves
# The device's own words for the same dead end (firmware/tempnode/tokens.py, `adopt`).
NO_REFRESH_TOKEN = (
    "the cloud approved this device but gave no refresh token, so the credential would die "
    "with its first access token: add offline_access to cloud.scope (now {scope}), or allow "
    "refresh tokens for this client on the server; nothing was stored"
)


def require_refresh_token(cloud, credential):
    """A grant that gave no refresh token where the device renews with one is a dead end:
    say so (the usual cause is the scope) instead of storing it."""
    if credential["kind"] != "refresh_token" and "refresh_token" in cloud.profile["grants"]:
        raise UserError(NO_REFRESH_TOKEN.format(scope=json.dumps(cloud.profile["scope"])))


def via_device_flow(cloud, out=print, sleep=None):
    sleep = sleep or time.sleep
    fields = {"scope": cloud.profile["scope"]}
    url = device_authorization_url(cloud)
    status, start = cloud.post(url, fields, cloud.client())
    if status != 200 or "device_code" not in start:
        raise refused(status, start)
    link = start.get("verification_uri_complete") or start["verification_uri"]
    out(f"open {link} and enter the code {start['user_code']} to approve this device")
    interval = int(start.get("interval", 5))
    deadline = time.monotonic() + min(int(start.get("expires_in", MAX_WAIT_S)), MAX_WAIT_S)
    poll = {"grant_type": DEVICE_CODE_GRANT, "device_code": start["device_code"]}
    while time.monotonic() < deadline:
        sleep(interval)
        status, reply = cloud.post(cloud.token_url(), poll, cloud.client())
        error = reply.get("error")
        if status == 200:
            return credential_from(reply)
        if error == "slow_down":
            interval += 5  # RFC 8628 §3.5: for good
        elif error != "authorization_pending":
            raise refused(status, reply)
    raise UserError("nobody approved the code in time: run tempnode provision again")


def device_authorization_url(cloud):
    """The configured device authorization endpoint, else the one the cloud's metadata names
    (a dialect whose device has no device flow may still offer one to the laptop)."""
    url = cloud.url("device_authorization_url")
    if url:
        return url
    found = discovery.discover(cloud.base, cloud.ca_der, cloud.insecure_tls)
    if not found.device_authorization_url:
        raise UserError(
            f"{cloud.base} offers no device flow: provision with --via paste (a refresh token "
            "from the cloud's console)"
        )
    return found.device_authorization_url


def via_password(cloud, ask=getpass.getpass, read=input):
    username = read("Cloud user name: ").strip()
    password = ask("Cloud password (used once, here, never stored): ")
    fields = {"grant_type": "password", "username": username, "password": password}
    if cloud.cloud["profile"] == "usergrid":
        status, reply = cloud.post(cloud.token_url(), dict(fields, ttl=0))
    else:
        status, reply = cloud.post(cloud.token_url(), fields, cloud.client())
    if status != 200:
        raise refused(status, reply)
    return credential_from(reply)


def via_speckle(cloud, read=input, out=print):
    challenge = random_tokens.token_urlsafe(24)
    app_id = cloud.cloud["app_id"]
    out(f"open {cloud.base}/authn/verify/{app_id}/{challenge}, allow the app,")
    code = read("then paste the access code from the page you land on: ").strip()
    body = {
        "appId": app_id,
        "appSecret": cloud.client_secret,
        "accessCode": code,
        "challenge": challenge,
    }
    status, reply = cloud.post(cloud.token_url(), body)
    if status != 200:
        raise refused(status, reply)
    return credential_from(reply)


def via_paste():
    text = sys.stdin.readline().strip()
    if text.startswith("{"):
        try:
            credential = json.loads(text)
        except ValueError:
            raise UserError("the pasted credential is not valid JSON") from None
        if not isinstance(credential, dict) or "kind" not in credential:
            raise UserError('the pasted credential needs a "kind" (see credential_store.py)')
        return credential
    if not text:
        raise UserError("nothing was pasted: paste a refresh token or a credential JSON")
    return {"kind": "refresh_token", "refresh_token": text}


def store(board, credential):
    install_helpers(board)
    write_atomic(board, CREDENTIAL, json.dumps(credential, separators=(",", ":")).encode())


def on_device(board, out=print):
    """Run the device's own RFC 8628 flow and relay what it prints."""
    try:
        board.transport.exec_raw_no_follow("import tempnode\ntempnode.provision()")
        board.transport.follow(None, lambda data: out(data.decode(errors="replace"), end=""))
    except KeyboardInterrupt:
        raise UserError("provisioning interrupted: the device keeps its old credential") from None


def keep_credential(folder, credential):
    """The credential in the device folder (mode 600, in its .gitignore), for a board that
    could not take it: an approval is not thrown away."""
    path = folder / CREDENTIAL
    write_private(path, (json.dumps(credential, separators=(",", ":")) + "\n").encode())
    return path


def _kept(folder, credential, exc):
    path = keep_credential(folder, credential)
    return UserError(
        f"{exc}; the credential is kept in {path}: store it with `tempnode provision "
        f"--dir {folder} --via paste < {path}`"
    )


def run(args):
    config, secrets = load_folder(args.dir)
    via = args.via or DEFAULT_VIA[config["cloud"]["profile"]]
    port = default_port(args)
    if via == "on-device":
        with connect(port) as board:
            on_device(board)
        return
    # The board must be there before anyone is asked to approve anything.
    open_serial(port).close()
    cloud = Cloud(args.dir, config, secrets)
    methods = {
        "device-flow": lambda: via_device_flow(cloud),
        "password": lambda: via_password(cloud),
        "speckle": lambda: via_speckle(cloud),
        "paste": via_paste,
    }
    credential = methods[via]()
    if via != "paste":
        require_refresh_token(cloud, credential)
    if args.check:
        again = None if via == "paste" else methods[via]
        try:
            credential = provision_check.check(cloud, credential, again)
        except UserError as exc:
            raise _kept(args.dir, credential, exc) from None
    try:
        with connect(port) as board:
            store(board, credential)
            board.soft_reset()
    except UserError as exc:
        raise _kept(args.dir, credential, exc) from None
    print(f"stored a {credential['kind']} credential in the board's {CREDENTIAL}; it restarted")


def register(subparsers):
    p = subparsers.add_parser("provision", help="give the board its cloud credential")
    add_board_arguments(p)
    p.add_argument(
        "--via",
        choices=("device-flow", "password", "speckle", "paste", "on-device"),
        help="how to get the credential (default: the best one for the cloud's dialect)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="renew once from the laptop before storing, and say what the server did: the "
        "token lifetime, whether the refresh token rotates, whether the old one still works",
    )
    p.set_defaults(func=run)
