"""The dev cloud's own certificate authority and its server certificate.

Created once in the data directory and reused, so a device that was given `ca.der` keeps
verifying the server across restarts. The keys are EC P-256 and the certificates carry the
extensions mbedTLS checks (MicroPython's `tls` module): basicConstraints CA:TRUE with
keyCertSign on the CA, and a subjectAltName on the server certificate with DNS `localhost`, IP
`127.0.0.1` and every name or address given with `serve --name` (a board on the LAN reaches
the laptop by its address or its mDNS name; mbedTLS matches `server_hostname` against the SAN,
RFC 6125 §6.4). A server certificate whose names differ from the ones asked for is made anew
under the same CA, so a device keeps its `ca.der`.
"""

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = datetime.timedelta(days=3650)
SERVER_VALIDITY = datetime.timedelta(days=825)
# A certificate starts a day in the past: a device whose clock is a little behind still accepts it.
BACKDATE = datetime.timedelta(days=1)
RENEW_BEFORE = datetime.timedelta(days=30)
LOOPBACK_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class CertPaths:
    """Where the CA and the server certificate live in a data directory."""

    ca_der: Path
    ca_pem: Path
    ca_key: Path
    server_cert: Path
    server_key: Path

    @classmethod
    def in_dir(cls, data_dir):
        d = Path(data_dir)
        return cls(d / "ca.der", d / "ca.pem", d / "ca.key", d / "server.pem", d / "server.key")


def san_entry(name):
    """A subjectAltName entry: an IP address when `name` is one, else a DNS name."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def certificate_names(names=()):
    """The loopback names, then the ones given, each once."""
    return list(dict.fromkeys([*LOOPBACK_NAMES, *names]))


def ensure_certificates(data_dir, names=()):
    """Create the CA (if missing) and a server certificate for the loopback names and `names`
    (if missing, due, or for other names); return the paths."""
    paths = CertPaths.in_dir(data_dir)
    paths.ca_der.parent.mkdir(parents=True, exist_ok=True)
    if not (paths.ca_key.exists() and paths.ca_pem.exists()):
        _create_ca(paths)
    wanted = certificate_names(names)
    if _server_cert_due(paths, wanted):
        _create_server_cert(paths, wanted)
    return paths


def server_names(paths):
    """The names and addresses the server certificate is for, as text."""
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(entry.value) for entry in san]


def server_context(paths):
    """The server side TLS context for the dev cloud."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(paths.server_cert, paths.server_key)
    return context


def _now():
    return datetime.datetime.now(datetime.UTC)


def _name(common_name):
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tempnode dev cloud"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write(path, data, private=False):
    """Write through a temporary name, so a crash never leaves half a key."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _create_ca(paths):
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("tempnode dev cloud local CA")
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(paths.ca_key, _pem_key(key), private=True)
    _write(paths.ca_pem, cert.public_bytes(serialization.Encoding.PEM))
    _write(paths.ca_der, cert.public_bytes(serialization.Encoding.DER))
    # A new CA makes any older server certificate useless.
    paths.server_cert.unlink(missing_ok=True)


def _server_cert_due(paths, names):
    if not (paths.server_cert.exists() and paths.server_key.exists()):
        return True
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(paths.ca_pem.read_bytes())
    if cert.issuer != ca.subject or cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return True
    return sorted(server_names(paths)) != sorted(str(san_entry(n).value) for n in names)


def _create_server_cert(paths, names):
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate(paths.ca_pem.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    san = x509.SubjectAlternativeName([san_entry(name) for name in names])
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("tempnode dev cloud server"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + SERVER_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(san, critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(paths.server_key, _pem_key(key), private=True)
    _write(paths.server_cert, cert.public_bytes(serialization.Encoding.PEM))
