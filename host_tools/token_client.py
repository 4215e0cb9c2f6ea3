"""The laptop's client for a cloud's token endpoint, as the device sees it: the firmware's own
profile (`tempnode.profiles.for_cloud`: the dialect with the config's endpoints, scope and
client authentication), over verified HTTPS with the device folder's CA. Used by
`tempnode provision` and its `--check`; nothing here prints a token.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode

from . import discovery
from .errors import UserError
from .validate import device_profiles

HTTP_TIMEOUT_S = 15


class Cloud:
    """The cloud's token endpoints as the device sees them (the firmware's own profile, with
    the config's endpoints, scope and client authentication), over verified HTTPS with the
    folder's CA."""

    def __init__(self, folder, config, secrets):
        cloud = config["cloud"]
        self.cloud = cloud
        self.secrets = secrets
        self.profile = device_profiles().for_cloud(cloud)
        self.base = cloud["base_url"].rstrip("/")
        scheme, rest = self.base.split("://", 1)
        self.origin = f"{scheme}://{rest.split('/', 1)[0]}"
        self.client_id = cloud["client_id"]
        self.client_secret = secrets.get("client_secret") or secrets.get("app_secret")
        self.ca_der = (folder / cloud["ca"]).read_bytes() if cloud.get("ca") else None
        self.insecure_tls = bool(cloud.get("insecure_tls"))
        self.context = None
        if self.ca_der is not None or self.insecure_tls:
            self.context = discovery.tls_context(self.ca_der, self.insecure_tls)

    def open(self, request):
        return urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S, context=self.context)

    def url(self, key):
        """The profile's endpoint `key` as the device resolves it: an absolute URL as it is,
        a path on base_url's server (its origin); None when the profile has none."""
        target = self.profile[key]
        if not target or target.startswith(("https://", "http://")):
            return target
        return self.origin + target

    def token_url(self):
        return self.url("token_url")

    def client(self):
        """(id, secret) of the configured OAuth client; the secret is None for a public one."""
        return self.client_id, self.client_secret

    def post(self, url, fields, client=None):
        """(status, JSON reply) of a token-endpoint POST in the profile's encoding; `client`
        (id, secret) authenticates as `client_auth` says (RFC 6749 §2.3.1), a public client
        sending only its id. A dead or garbled cloud is a UserError."""
        headers = {"Accept": "application/json"}
        fields = dict(fields)
        if client is not None:
            client_id, secret = client
            how = self.profile["client_auth"] if secret else "none"
            if how == "client_secret_basic":
                headers["Authorization"] = basic_auth(client_id, secret)
            elif client_id:
                fields["client_id"] = client_id
                if how == "client_secret_post":
                    fields["client_secret"] = secret
        if self.profile["token_body"] == "json":
            body = json.dumps(fields).encode()
            headers["Content-Type"] = "application/json"
        else:
            body = urllib.parse.urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(url, body, headers, method="POST")
        try:
            with self.open(request) as r:
                status, raw = r.status, r.read(65536)
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read(65536)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UserError(f"cannot reach the cloud at {url}: {reason}") from None
        try:
            return status, json.loads(raw)
        except ValueError:
            raise UserError(f"the cloud answered {url} with HTTP {status} and no JSON") from None


def basic_auth(user, password):
    """An `Authorization: Basic` value; RFC 6749 §2.3.1 form-encodes both parts first."""
    pair = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"
    return "Basic " + b64encode(pair.encode()).decode()


def refused(status, reply):
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


def renewal(cloud, credential):
    """(status, reply) of the device's own renewal request for `credential`: the profile's
    grant for its kind, fields and client taken from the config, secrets and credential."""
    client, fields = cloud.profile["grants"][credential["kind"]]
    tables = {"config": cloud.cloud, "secrets": cloud.secrets, "credential": credential}

    def value(source):
        if source[0] == "=":
            return source[1:]
        where, name = source.split(".", 1)
        return tables[where].get(name)

    pairs = {name: value(source) for name, source in fields}
    if client is not None:
        client = (value(client[0]), value(client[1]))
    return cloud.post(cloud.token_url(), pairs, client)
