"""A MicroPython process (the real unix-port interpreter with mbedTLS) renews its token and
posts a batch on one verified keep-alive TLS connection to the dev cloud, with the virtual
clock file shared: what a device does, without the firmware's own HTTP client."""

import json
import subprocess

import pytest
from micropython_harness import micropython_binary

SCRIPT = r"""
import json, socket, sys, tls
ca, port, client_id, secret, refresh = sys.argv[1:6]
ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(open(ca, "rb").read())
raw = socket.socket()
raw.settimeout(10)
raw.connect(socket.getaddrinfo("127.0.0.1", int(port))[0][-1])
conn = ctx.wrap_socket(raw, server_hostname="localhost")

def b64(data):
    import binascii
    return binascii.b2a_base64(data).strip().decode()

def request(path, headers, body):
    head = "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n" % (path, len(body))
    conn.write((head + "".join("%s: %s\r\n" % h for h in headers) + "\r\n").encode() + body)
    status = int(conn.readline().split()[1])
    length, date = 0, None
    while True:
        line = conn.readline().decode().strip()
        if not line:
            break
        name, value = line.split(":", 1)
        if name.lower() == "content-length":
            length = int(value)
        if name.lower() == "date":
            date = value.strip()
    body = b""
    while len(body) < length:
        body += conn.read(length - len(body))
    return status, date, json.loads(body)

status, date, pair = request("/oauth/token", [
    ("Authorization", "Basic " + b64((client_id + ":" + secret).encode())),
    ("Content-Type", "application/x-www-form-urlencoded")],
    ("grant_type=refresh_token&refresh_token=" + refresh).encode())
batch = {"device": "logger-01", "sent_mono_ms": 60000, "readings": [
    {"seq": 1, "sensor": "28ff4a1b02170345", "mono_ms": 59000, "c": 21.5}]}
status2, _, stored = request("/api/v1/readings", [
    ("Authorization", "Bearer " + pair["access_token"]),
    ("Content-Type", "application/json")], json.dumps(batch).encode())
conn.close()
print(json.dumps({"token": status, "expires_in": pair["expires_in"], "date": date,
                  "ingest": status2, "stored": stored["stored"]}))
"""


def test_micropython_renews_and_uploads_on_one_connection(dev_cloud, tmp_path):
    device = dev_cloud.admin.create_device("logger-01", access_ttl_s=900)
    script = tmp_path / "device.py"
    script.write_text(SCRIPT)
    port = dev_cloud.base_url.rsplit(":", 1)[1]
    out = subprocess.run(
        [
            micropython_binary(),
            str(script),
            str(dev_cloud.ca_der_path),
            port,
            device["client_id"],
            device["client_secret"],
            device["credential"]["refresh_token"],
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    assert result["token"] == 200 and result["expires_in"] == 900
    assert result["date"].endswith(" GMT")
    assert result["ingest"] == 200 and result["stored"] == [1]
    (reading,) = dev_cloud.admin.readings("logger-01")
    assert reading["received_at"] - reading["t"] == pytest.approx(1.0)  # sampled 1 s before
    assert device["credential"]["refresh_token"] not in out.stdout + out.stderr
