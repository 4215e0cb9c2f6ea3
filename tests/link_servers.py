"""Misbehaving TLS servers on loopback for the cloud-link failure tests.

`BadServer(behaviour, cert, key)` accepts connections in a thread and, after the TLS handshake
and the request, does one of: "stall_mid_body" (a reply cut off in the middle of its body,
then silence), "garbage" (binary noise instead of an HTTP reply), "ok" (a proper reply).
"not_tls" answers the ClientHello itself with noise. `leaf_certificate()` makes a server
certificate for another host name, signed by the dev cloud's own CA (`host_tools/cloud/tls.py`
creates that CA; nothing here creates one). `LoopbackTlsServer` is the accept loop they and
`hostile_proxy.HostileProxy` share.
"""

import datetime
import os
import socket
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOISE = os.urandom(4096)


def leaf_certificate(certs, folder, host_name):
    """(cert.pem, key.pem) for `host_name`, signed by the dev cloud CA in `certs`."""
    ca_key = serialization.load_pem_private_key(certs.ca_key.read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate(certs.ca_pem.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host_name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{host_name}.pem", folder / f"{host_name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class LoopbackTlsServer:
    """A TLS server on a loopback port: each accepted connection goes to the subclass's
    `_handle(raw)` in a thread of its own (the raw socket: the subclass wraps it, or not).
    `close()` stops it and closes every connection it was given."""

    def __init__(self, cert, key):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)  # so the accept loop sees `stop` soon after close()
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.connections = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def base_url(self):
        return f"https://localhost:{self.port}"

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        self.listener.close()
        for conn in self.connections:
            conn.close()

    def _serve(self):
        while not self.stop.is_set():
            try:
                raw, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(raw)
            threading.Thread(target=self._handle, args=(raw,), daemon=True).start()


class BadServer(LoopbackTlsServer):
    def __init__(self, behaviour, cert, key):
        self.behaviour = behaviour
        super().__init__(cert, key)

    def _handle(self, raw):
        raw.settimeout(10)
        try:
            if self.behaviour == "not_tls":
                raw.recv(4096)
                raw.sendall(NOISE)
                self.stop.wait(10)
                return
            conn = self.context.wrap_socket(raw, server_side=True)
            self.connections.append(conn)
            _read_request(conn)
            if self.behaviour == "stall_mid_body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"stored": [')
                self.stop.wait(10)
            elif self.behaviour == "garbage":
                conn.sendall(NOISE)
                self.stop.wait(10)
            else:
                body = b'{"stored": []}'
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        except (OSError, ssl.SSLError):
            pass
        finally:
            raw.close()


def _read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            while len(body) < int(value):
                chunk = conn.recv(4096)
                if not chunk:
                    return
                body += chunk
