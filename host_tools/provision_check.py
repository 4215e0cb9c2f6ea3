"""`tempnode provision --check`: one renewal from the laptop with the new credential, before the
board gets it, and the facts a user of their own server needs (never a token):

- the access token's lifetime (`expires_in`), or that the server gives none;
- whether a refresh token came back and whether it is a new one (rotation);
- after a rotation, whether the old refresh token still works (a grace window). Without one,
  a renewal reply lost on its way to the device (a power cut, a Wi-Fi drop) ends in
  needs-provisioning: clouds-and-tokens.md, "Rotation and the lost reply".

The renewal is the device's own request: the profile's grant for the credential's kind, with
the configured token URL and client authentication. The board then gets the newest credential
that works, so what it holds is valid whatever the server does with used tokens. Presenting a
used refresh token again is the one way to learn about the grace window, and a server with
reuse detection (RFC 9700 §4.14.2) revokes the whole grant for it: then the check says so and
gets a new credential the way the first was got (a second approval), which the board gets
unchecked.
"""

from .errors import UserError
from .token_client import credential_from, refused, renewal


def check(cloud, credential, again=None, out=print):
    """Renew `credential` once and report; return the credential the board should store.
    `again()` gets a new credential the way `credential` was got, or is None (pasted)."""
    kind = credential["kind"]
    if kind not in cloud.profile["grants"]:
        out(f"check: a {kind} credential cannot be renewed with this cloud: nothing to check")
        return credential
    out(f"check: renewing once at {cloud.token_url()} ({cloud.profile['client_auth']})")
    newer = _renewed(cloud, credential)
    _say_lifetime(newer, out)
    if kind != "refresh_token":
        out(f"check: a {kind} credential asks for a new token at each renewal: nothing rotates")
        return credential
    old = credential["refresh_token"]
    if "refresh_token" not in newer:
        out("check: no refresh token came back: the device keeps using the one it has")
        return dict(newer, kind="refresh_token", refresh_token=old)
    if newer["refresh_token"] == old:
        out("check: the same refresh token came back: the server does not rotate them")
        return newer
    out("check: a new refresh token came back: the server rotates them (the old one is used)")
    return _grace_window(cloud, credential, newer, again, out)


def _grace_window(cloud, used, newest, again, out):
    status, reply = renewal(cloud, used)
    if status == 200:
        out(
            "check: the old refresh token still worked once more: the server has a grace "
            "window, so a renewal reply the device never gets heals itself"
        )
        return _credential(reply, newest)
    status, reply = renewal(cloud, newest)
    if status == 200:
        out(
            "check: the old refresh token was refused afterwards and the new one still works: "
            "no grace window, so a renewal reply the device never gets (a power cut at the "
            "wrong moment) means provisioning it again"
        )
        return _credential(reply, newest)
    out(
        "check: presenting the old refresh token again revoked the whole grant (reuse "
        "detection, no grace window): a renewal reply the device never gets means "
        "provisioning it again"
    )
    if again is None:
        raise UserError(
            "the check used up the pasted credential (the server revoked it): paste a new one "
            "with tempnode provision --via paste"
        )
    out("check: the credential checked is gone; approve once more for the device's own")
    return again()


def _renewed(cloud, credential):
    status, reply = renewal(cloud, credential)
    if status != 200:
        raise UserError(
            f"the renewal was refused, so the device could not renew either "
            f"({refused(status, reply)}): check the client's grant types and authentication"
        )
    return _credential(reply, credential)


def _credential(reply, previous):
    """The credential.json object for a renewal reply; a client-credentials credential
    keeps its client."""
    credential = credential_from(reply)
    if previous["kind"] == "client_credentials":
        return dict(
            previous,
            access_token=credential.get("access_token"),
            expires_in=credential.get("expires_in"),
        )
    return credential


def _say_lifetime(credential, out):
    lifetime = credential.get("expires_in")
    if lifetime:
        out(f"check: the access token lives {lifetime} s (expires_in)")
    else:
        out("check: the reply gives no lifetime: the device renews when a call is refused")
