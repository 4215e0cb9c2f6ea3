"""`tempnode provision`: get the device its stored refresh credential; no password reaches it.

Ways, picked per cloud dialect (`--via` overrides):

- `device-flow` (oauth2, particle): RFC 8628 on the host: prints the URL and the code, polls.
- `password` (spark2014, usergrid): one password grant on the host; the password stays here.
- `speckle`: authorization code with a challenge: open the URL, paste the access code.
- `paste` (any): a credential JSON, or a bare refresh token, pasted on stdin.
- `on-device` (any): runs `tempnode.provision()` on the board and relays what it prints.

The credential is written to the board's `credential.json` atomically (temporary name, hash
check on the board, rename), in the format `firmware/tempnode/credential_store.py` documents.
Nothing here prints a token: only its kind.
"""

import getpass
import json
import secrets as random_tokens
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode

from .deploy import install_helpers, write_atomic
from .device import add_board_arguments, connect, open_serial
from .errors import UserError
from .validate import CREDENTIAL, default_port, load_folder, write_private

DEFAULT_VIA = {
    "oauth2": "device-flow",
    "particle": "device-flow",
    "spark2014": "password",
    "usergrid": "password",
    "speckle": "speckle",
}
TOKEN_PATHS = {"usergrid": "/{org}/{app}/token", "speckle": "/auth/token"}
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
HTTP_TIMEOUT_S = 15
MAX_WAIT_S = 900  # give up a device flow the user never approves


class Cloud:
    """The cloud's token endpoints, over verified HTTPS with the folder's CA."""

    def __init__(self, folder, config, secrets):
        cloud = config["cloud"]
        self.cloud = cloud
        self.base = cloud["base_url"].rstrip("/")
        self.client_id = cloud["client_id"]
        self.client_secret = secrets.get("client_secret") or secrets.get("app_secret")
        self.context = None
        if self.base.startswith("https://"):
            self.context = ssl.create_default_context(cadata=(folder / cloud["ca"]).read_bytes())
            if cloud.get("insecure_tls"):
                self.context.check_hostname = False
                self.context.verify_mode = ssl.CERT_NONE

    def open(self, request):
        return urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S, context=self.context)

    def token_url(self):
        path = TOKEN_PATHS.get(self.cloud["profile"], "/oauth/token")
        return self.base + path.format(org=self.cloud.get("org"), app=self.cloud.get("app"))

    def post(self, url, fields, as_json=False, basic=False):
        """(status, JSON reply) of a POST; a dead or garbled cloud is a UserError."""
        headers = {"Accept": "application/json"}
        if as_json:
            body = json.dumps(fields).encode()
            headers["Content-Type"] = "application/json"
        else:
            body = urllib.parse.urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if basic:
            pair = f"{self.client_id}:{self.client_secret or ''}".encode()
            headers["Authorization"] = "Basic " + b64encode(pair).decode()
        request = urllib.request.Request(url, body, headers, method="POST")
        try:
            with urllib.request.urlopen(
                request, timeout=HTTP_TIMEOUT_S, context=self.context
            ) as r:
                status, raw = r.status, r.read(65536)
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read(65536)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UserError(f"cannot reach the cloud at {self.base}: {reason}") from None
        try:
            return status, json.loads(raw)
        except ValueError:
            raise UserError(f"the cloud answered {url} with HTTP {status} and no JSON") from None


def _refused(status, reply):
    error = reply.get("error") or reply.get("err") or f"HTTP {status}"
    description = reply.get("error_description", "")
    return UserError(f"the cloud refused: {error}{': ' + description if description else ''}")


def credential_from(reply):
    """The credential.json object for a token reply (standard or Speckle's shape)."""
    refresh = reply.get("refresh_token") or reply.get("refreshToken")
    access = reply.get("access_token") or reply.get("token")
    if refresh:
        credential = {"kind": "refresh_token", "refresh_token": refresh}
    elif access:
        credential = {"kind": "access_token"}
    else:
        raise UserError("the cloud's token reply holds no token")
    if access:
        credential["access_token"] = access
        credential["expires_in"] = reply.get("expires_in")
    return credential


def via_device_flow(cloud, out=print, sleep=time.sleep):
    fields = {"client_id": cloud.client_id, "scope": "readings"}
    url = discover_device_endpoint(cloud)
    status, start = cloud.post(url, fields, basic=bool(cloud.client_secret))
    if status != 200 or "device_code" not in start:
        raise _refused(status, start)
    link = start.get("verification_uri_complete") or start["verification_uri"]
    out(f"open {link} and enter the code {start['user_code']} to approve this device")
    interval = int(start.get("interval", 5))
    deadline = time.monotonic() + min(int(start.get("expires_in", MAX_WAIT_S)), MAX_WAIT_S)
    poll = {"grant_type": DEVICE_CODE_GRANT, "device_code": start["device_code"]}
    poll["client_id"] = cloud.client_id
    while time.monotonic() < deadline:
        sleep(interval)
        status, reply = cloud.post(cloud.token_url(), poll, basic=bool(cloud.client_secret))
        error = reply.get("error")
        if status == 200:
            return credential_from(reply)
        if error == "slow_down":
            interval += 5  # RFC 8628 §3.5: for good
        elif error != "authorization_pending":
            raise _refused(status, reply)
    raise UserError("nobody approved the code in time: run tempnode provision again")


def discover_device_endpoint(cloud):
    """RFC 8414 metadata's device endpoint, else the RFC 8628 example path."""
    url = cloud.base + "/.well-known/oauth-authorization-server"
    try:
        with cloud.open(url) as r:
            return json.loads(r.read(65536))["device_authorization_endpoint"]
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return cloud.base + "/device_authorization"


def via_password(cloud, ask=getpass.getpass, read=input):
    username = read("Cloud user name: ").strip()
    password = ask("Cloud password (used once, here, never stored): ")
    fields = {"grant_type": "password", "username": username, "password": password}
    if cloud.cloud["profile"] == "usergrid":
        status, reply = cloud.post(cloud.token_url(), dict(fields, ttl=0), as_json=True)
    else:
        status, reply = cloud.post(cloud.token_url(), fields, basic=True)
    if status != 200:
        raise _refused(status, reply)
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
    status, reply = cloud.post(cloud.token_url(), body, as_json=True)
    if status != 200:
        raise _refused(status, reply)
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
    try:
        with connect(port) as board:
            store(board, credential)
            board.soft_reset()
    except UserError as exc:
        kept = keep_credential(args.dir, credential)
        raise UserError(
            f"{exc}; the credential is kept in {kept}: store it with `tempnode provision "
            f"--dir {args.dir} --via paste < {kept}`"
        ) from None
    print(f"stored a {credential['kind']} credential in the board's {CREDENTIAL}; it restarted")


def register(subparsers):
    p = subparsers.add_parser("provision", help="give the board its cloud credential")
    add_board_arguments(p)
    p.add_argument(
        "--via",
        choices=("device-flow", "password", "speckle", "paste", "on-device"),
        help="how to get the credential (default: the best one for the cloud's dialect)",
    )
    p.set_defaults(func=run)
