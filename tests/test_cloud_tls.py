"""The dev cloud's CA: made once per data directory, and verified for real by MicroPython's
mbedTLS (`tls.SSLContext(PROTOCOL_TLS_CLIENT)` with the DER CA), which refuses another CA and
another host name."""

import socket
import subprocess

import pytest
from cryptography import x509
from micropython_harness import micropython_binary

from host_tools.cloud import app, tls

# Runs under MicroPython: GET /dashboard over verified TLS, prints the status line or the error.
MICROPYTHON_CLIENT = """
import socket, tls, sys
ca_path, host, port, address = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
assert ctx.verify_mode == tls.CERT_REQUIRED
with open(ca_path, "rb") as f:
    ctx.load_verify_locations(f.read())
s = socket.socket()
s.settimeout(10)
s.connect(socket.getaddrinfo(address, port)[0][-1])
try:
    t = ctx.wrap_socket(s, server_hostname=host)
except Exception as e:
    print("REFUSED", type(e).__name__)
    s.close()
    sys.exit(0)
t.write(b"GET /dashboard HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n")
print(t.read(12).decode())
t.close()
"""


def run_micropython_client(tmp_path, ca_path, host, port, address="127.0.0.1"):
    script = tmp_path / "client.py"
    script.write_text(MICROPYTHON_CLIENT)
    out = subprocess.run(
        [micropython_binary(), str(script), str(ca_path), host, str(port), address],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.strip()


def test_micropython_verifies_the_dev_cloud_with_its_der_ca(dev_cloud, tmp_path):
    port = dev_cloud.base_url.rsplit(":", 1)[1]
    assert run_micropython_client(tmp_path, dev_cloud.ca_der_path, "localhost", port) == (
        "HTTP/1.1 200"
    )


def test_micropython_refuses_a_server_signed_by_another_ca(dev_cloud, tmp_path):
    other = tls.ensure_certificates(tmp_path / "other")
    port = dev_cloud.base_url.rsplit(":", 1)[1]
    assert (
        run_micropython_client(tmp_path, other.ca_der, "localhost", port) == "REFUSED ValueError"
    )


def test_micropython_refuses_a_host_name_the_certificate_does_not_name(dev_cloud, tmp_path):
    port = dev_cloud.base_url.rsplit(":", 1)[1]
    result = run_micropython_client(tmp_path, dev_cloud.ca_der_path, "example.com", port)
    assert result == "REFUSED ValueError"


def test_certificates_are_made_once_and_reused(tmp_path):
    first = tls.ensure_certificates(tmp_path)
    ca, cert = first.ca_der.read_bytes(), first.server_cert.read_bytes()
    second = tls.ensure_certificates(tmp_path)
    assert second.ca_der.read_bytes() == ca
    assert second.server_cert.read_bytes() == cert
    assert first.ca_key.stat().st_mode & 0o777 == 0o600
    assert first.server_key.stat().st_mode & 0o777 == 0o600


def test_a_new_ca_replaces_the_server_certificate_it_did_not_sign(tmp_path):
    first = tls.ensure_certificates(tmp_path)
    first.ca_key.unlink()
    second = tls.ensure_certificates(tmp_path)
    cert = x509.load_pem_x509_certificate(second.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(second.ca_pem.read_bytes())
    assert cert.issuer == ca.subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_a_board_on_the_lan_verifies_the_cloud_by_the_name_or_address_it_was_given(tmp_path):
    """`serve --bind ADDRESS --name NAME`: listening on that address only, a certificate for
    the names given (and loopback), the URL on the first name, the same CA as before."""
    data = tmp_path / "cloud"
    ca_before = tls.ensure_certificates(data).ca_der.read_bytes()
    lan = app.start(data, memory=True, bind="127.0.0.2", names=["127.0.0.2", "laptop.lan"])
    try:
        port = str(lan.http_server.server_address[1])
        assert lan.base_url == f"https://127.0.0.2:{port}"
        assert lan.info()["names"] == ["localhost", "127.0.0.1", "127.0.0.2", "laptop.lan"]
        assert (data / "ca.der").read_bytes() == ca_before  # devices keep their ca.der
        ca = data / "ca.der"
        for name in ("laptop.lan", "127.0.0.2"):
            reply = run_micropython_client(tmp_path, ca, name, port, address="127.0.0.2")
            assert reply == "HTTP/1.1 200", name
        refused = run_micropython_client(tmp_path, ca, "other.lan", port, address="127.0.0.2")
        assert refused == "REFUSED ValueError"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=2).close()
    finally:
        lan.stop()
