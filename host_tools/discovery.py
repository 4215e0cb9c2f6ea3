"""An authorization server's endpoints from its metadata, read on the laptop (never the device).

    found = discover("https://id.example.com/realms/farm", ca_der)
    found.config(has_secret=True)  # config.json `cloud` fields: token_url, client_auth, ...

Given an issuer URL, the OpenID Connect Discovery document
(`ISSUER/.well-known/openid-configuration`, OIDC Discovery 1.0 §4) is read, else the OAuth 2.0
Authorization Server Metadata (`https://HOST/.well-known/oauth-authorization-server/PATH`,
RFC 8414 §3: the well-known part goes between the host and the issuer's path). TLS is verified
with the device folder's CA, the one the device will use: a CA that does not verify the server
here would not verify it on the board either. The document must name the same `issuer` (OIDC
Discovery §4.3, RFC 8414 §3.3: anything else may be an impostor's) and a `token_endpoint`.
Every failure is one sentence (`UserError`) saying what to fix.
"""

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

from .errors import UserError

HTTP_TIMEOUT_S = 15
MAX_DOCUMENT = 262144  # bytes; real metadata documents are a few KB
OIDC_PATH = "/.well-known/openid-configuration"
RFC8414_PATH = "/.well-known/oauth-authorization-server"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# RFC 8414 §2: the defaults of the fields a server may leave out.
DEFAULT_AUTH_METHODS = ("client_secret_basic",)
DEFAULT_GRANTS = ("authorization_code", "implicit")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")  # what the device can do
OFFLINE_ACCESS = "offline_access"


@dataclass(frozen=True)
class Metadata:
    url: str  # where the document was read
    document: dict

    @property
    def issuer(self):
        return self.document["issuer"]

    @property
    def token_url(self):
        return self.document["token_endpoint"]

    @property
    def device_authorization_url(self):
        return self.document.get("device_authorization_endpoint")

    def listed(self, field, default=()):
        value = self.document.get(field)
        return tuple(value) if isinstance(value, list) else tuple(default)

    def client_auth(self, has_secret):
        """The token endpoint authentication the device will use: HTTP Basic when the server
        takes it (RFC 6749 §2.3.1 says every server must), else the secret in the body; a
        client without a secret is public ("none")."""
        methods = self.listed("token_endpoint_auth_methods_supported", DEFAULT_AUTH_METHODS)
        wanted = SECRET_METHODS if has_secret else ("none",)
        for method in wanted:
            if method in methods:
                return method
        what = "a client secret" if has_secret else "a public client (no secret)"
        raise UserError(
            f"{self.issuer} takes none of {', '.join(wanted)} for {what} at its token endpoint "
            f"(it lists {', '.join(methods) or 'nothing'}): "
            + ("register the client with a secret" if not has_secret else "use another client")
        )

    def scope(self, resource_scope):
        """The scope to ask for: `resource_scope`, plus `offline_access` where the server
        lists it (OpenID Connect servers issue a refresh token only for it, OIDC Core §11)."""
        words = resource_scope.split()
        if OFFLINE_ACCESS in self.listed("scopes_supported") and OFFLINE_ACCESS not in words:
            words.append(OFFLINE_ACCESS)
        return " ".join(words)

    def notes(self):
        """What the user should know about this server before provisioning (may be empty)."""
        grants = self.listed("grant_types_supported", DEFAULT_GRANTS)
        out = []
        if self.device_authorization_url is None or DEVICE_CODE_GRANT not in grants:
            out.append(
                f"{self.issuer} offers no device flow: provision with `tempnode provision "
                "--via paste` (a refresh token from the server's console)"
            )
        if "refresh_token" not in grants and "grant_types_supported" in self.document:
            out.append(
                f"{self.issuer} lists no refresh_token grant: the device cannot renew its "
                "access token on its own"
            )
        return out

    def config(self, has_secret, resource_scope):
        """config.json `cloud` fields for this server's endpoints and client authentication."""
        fields = {
            "token_url": self.token_url,
            "client_auth": self.client_auth(has_secret),
            "scope": self.scope(resource_scope),
        }
        if self.device_authorization_url:
            fields["device_authorization_url"] = self.device_authorization_url
        return fields


def metadata_urls(issuer):
    """Where the metadata of `issuer` may be: OpenID Connect's place, then RFC 8414's."""
    scheme, rest = issuer.split("://", 1)
    host, slash, path = rest.partition("/")
    path = (slash + path).rstrip("/")
    return [
        issuer.rstrip("/") + OIDC_PATH,
        f"{scheme}://{host}{RFC8414_PATH}{path}",
    ]


def tls_context(ca_der, insecure_tls=False):
    """A verifying context that trusts only `ca_der` (the device's CA), like the device."""
    context = ssl.create_default_context(cadata=ca_der)
    if insecure_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def discover(issuer, ca_der=None, insecure_tls=False):
    """The issuer's metadata (`Metadata`), or a UserError saying why there is none."""
    if not issuer.startswith(("https://", "http://")) or " " in issuer:
        raise UserError(f"the issuer {issuer!r} is not an https:// URL")
    if issuer.startswith("https://") and ca_der is None:
        raise UserError(f"reading {issuer}'s metadata needs the CA its certificate chains to")
    context = tls_context(ca_der, insecure_tls) if issuer.startswith("https://") else None
    missing = []
    for url in metadata_urls(issuer):
        status, document = _fetch(url, context)
        if status == 404 or status == 410:
            missing.append(url)
            continue
        return _checked(issuer, Metadata(url, _document(url, status, document)))
    raise UserError(
        f"{issuer} publishes no metadata (HTTP 404 at {' and '.join(missing)}): "
        "check the issuer URL (it is the `iss` of the server's tokens), or give "
        "--token-url and --device-authorization-url instead"
    )


def _fetch(url, context):
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S, context=context) as reply:
            return reply.status, reply.read(MAX_DOCUMENT + 1)
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise UserError(
                f"the CA does not verify {url.split('/')[2]}'s certificate "
                f"({reason.verify_message}): give the CA that server's certificate chains to "
                "(the device needs the same one)"
            ) from None
        raise UserError(f"cannot reach {url}: {_reason(reason)}") from None
    except (TimeoutError, OSError) as exc:
        raise UserError(f"cannot reach {url}: {_reason(exc)}") from None


def _reason(exc):
    if isinstance(exc, TimeoutError):
        return f"no answer in {HTTP_TIMEOUT_S} s"
    return getattr(exc, "strerror", None) or str(exc)


def _document(url, status, raw):
    if status != 200:
        raise UserError(f"{url} answered HTTP {status}, not the server's metadata")
    if len(raw) > MAX_DOCUMENT:
        raise UserError(f"{url} sent more than {MAX_DOCUMENT} bytes: not a metadata document")
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise UserError(f"{url} did not answer with a JSON object: not a metadata document")
    return document


def _checked(issuer, found):
    named = found.document.get("issuer")
    if named is None:
        raise UserError(f"{found.url} names no issuer: not an authorization server's metadata")
    # The same well-known URL serves "https://host" and "https://host/": either spelling.
    if not isinstance(named, str) or named.rstrip("/") != issuer.rstrip("/"):
        raise UserError(
            f"{found.url} names the issuer {named!r}, not {issuer!r}: give exactly the "
            "issuer the server names (a metadata document for another issuer is not trusted)"
        )
    token_url = found.document.get("token_endpoint")
    if not isinstance(token_url, str) or not token_url.startswith(("https://", "http://")):
        raise UserError(f"{found.url} names no token_endpoint URL: the device needs one")
    device_url = found.document.get("device_authorization_endpoint")
    if device_url is not None and not isinstance(device_url, str):
        raise UserError(f"{found.url} has a device_authorization_endpoint that is not a URL")
    return found
