"""The publisher's Ed25519 signing key: made on first use, kept on this laptop, mode 0600.

Every board deployed from this laptop gets the public half in its `config.json`
(`ota.public_key`, added by `tempnode deploy`) and installs only updates signed with the private
half (`tempnode release publish`). The cloud never sees the private key: it stores and serves
what was signed here. Where: `$TEMPNODE_RELEASE_KEY`, else
`$XDG_CONFIG_HOME/tempnode/release-key.pem` (`~/.config/...`), PKCS#8 PEM.

Lose the key and the boards in the field accept no update until they are deployed over USB
with the new public key; copy it and others can publish for your boards: back it up like an
SSH key.
"""

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .errors import UserError


def key_path():
    explicit = os.environ.get("TEMPNODE_RELEASE_KEY")
    if explicit:
        return Path(explicit)
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "tempnode" / "release-key.pem"


def load_or_create(path=None):
    """The signing key at `path` (default `key_path()`), made there on first use."""
    path = Path(path or key_path())
    if not path.exists():
        _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise UserError(
            f"the release signing key {path} can be read by others (mode {mode:o}): "
            f"run `chmod 600 {path}`"
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        raise UserError(f"{path} is not a PEM private key: restore the release key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError(f"{path} is not an Ed25519 key: restore the release key")
    return key


def public_hex(key):
    """The 32-byte public key as 64 hex digits, as `config.json` `ota.public_key` holds it."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def _create(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    print(f"made the release signing key {path} (mode 600): back it up", flush=True)
