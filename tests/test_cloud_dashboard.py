"""The dashboard, fed through the real ingest and token endpoints, looked at in a real headless
Chromium (Debian's `chromium`, installed by `make system-deps`): the screenshot must show the
sensors' lines, the gap, the no-reading reasons and the token events."""

import base64
import hashlib
import itertools
import re
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from PIL import Image

from host_tools.cloud import dashboard
from host_tools.paths import BUILD

SENSORS = {"28ff4a1b02170345": "tank", "28ff4a1b02170346": "pipe", "28ff4a1b02170347": "room"}
SENSOR_COLOURS = ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E), (0x2C, 0xA0, 0x2C))
RED = (0xD6, 0x27, 0x28)
SCREENSHOT = BUILD / "cloud-dashboard.png"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def two_hours_of_readings(start):
    """Three sensors every minute for two hours, 30 minutes missing, a few failed reads."""
    readings, seq = [], 0
    for minute in range(120):
        if 50 <= minute < 80:
            continue  # the gap
        for index, (rom, label) in enumerate(SENSORS.items()):
            seq += 1
            reading = {"seq": seq, "sensor": rom, "label": label, "t": start + minute * 60}
            if label == "pipe" and minute in (20, 21, 100):
                reading["error"] = "crc" if minute < 100 else "bus_short"
            else:
                reading["c"] = 10 + index * 6 + 2 * ((minute % 30) / 30)
            readings.append(reading)
    return readings


def fill(dev_cloud):
    """Readings and a history of token events, spread over cloud time."""
    admin = dev_cloud.admin
    device = admin.create_device("logger-01", "oauth2", access_ttl_s=600, grace_s=30)
    web = dev_cloud.session()
    auth = (device["client_id"], device["client_secret"])
    start = admin.clock()["now"] - 7200
    readings = two_hours_of_readings(start)
    token = device["credential"]["access_token"]
    for first in range(0, len(readings), 50):
        batch = {"device": "logger-01", "readings": readings[first : first + 50]}
        reply = web.post(
            dev_cloud.url("/api/v1/readings"),
            json=batch,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert reply.status_code == 200
    refresh_token = device["credential"]["refresh_token"]
    for _ in range(3):
        admin.set_clock_offset(admin.clock()["offset_s"] + 900)
        pair = web.post(
            dev_cloud.url("/oauth/token"),
            auth=auth,
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        ).json()
        refresh_token = pair["refresh_token"]
    admin.expire("logger-01")
    web.post(
        dev_cloud.url("/api/v1/readings"),
        json={"device": "logger-01", "readings": []},
        headers={"Authorization": f"Bearer {pair['access_token']}"},
    )
    admin.set_clock_offset(admin.clock()["offset_s"] + 600)
    admin.revoke("logger-01")
    return readings


def spki_pin(cert_path):
    """Chromium's --ignore-certificate-errors-spki-list value: base64(SHA-256(SPKI))."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_dashboard_html_shows_every_sensor_the_gap_and_the_reasons(dev_cloud):
    fill(dev_cloud)
    html = dev_cloud.session().get(dev_cloud.url("/dashboard")).text
    for label in SENSORS.values():
        assert label in html
    assert html.count("<polyline") == 3 * 2 + 2  # a line per run; pipe's failed reads break it
    assert "no reading (crc)" in html and "no reading (bus_short)" in html
    assert html.count("<title>gap</title>") == 3
    for kind in ("issued", "refreshed", "expired", "rejected", "revoked"):
        assert f">{kind}</text>" in html


def test_dashboard_in_headless_chromium(dev_cloud, tmp_path, capsys):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is missing: run `make system-deps` (Debian package chromium)")
    fill(dev_cloud)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    server_cert = dev_cloud.data_dir / "server.pem"
    subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--ignore-certificate-errors-spki-list={spki_pin(server_cert)}",
            f"--screenshot={SCREENSHOT}",
            "--window-size=1040,1100",
            dev_cloud.url("/dashboard"),
        ],
        capture_output=True,
        timeout=90,
        check=True,
    )
    with capsys.disabled():  # shown in every run's output, not only on failure
        print(f" dashboard screenshot: {SCREENSHOT}", end=" ")
    image = Image.open(SCREENSHOT).convert("RGB")
    assert image.size == (1040, 1100)
    colours = dict((rgb, n) for n, rgb in image.getcolors(maxcolors=1 << 20))
    white = colours.get((255, 255, 255), 0)
    assert white < 0.97 * image.width * image.height  # not blank
    assert len(colours) > 50  # text, lines and markers, anti-aliased
    for colour in SENSOR_COLOURS:
        assert colours.get(colour, 0) > 100, f"no line drawn in {colour}"
    assert colours.get(RED, 0) > 20  # no-reading crosses and the rejected token event


def test_dashboard_counts_every_reading_says_when_the_plot_is_cut_and_ticks_are_round(
    dev_cloud, monkeypatch
):
    readings = fill(dev_cloud)
    web = dev_cloud.session()
    start = web.post(dev_cloud.url("/oauth/device_authorization"), data={"client_id": "logger-01"})
    dev_cloud.admin.approve(start.json()["user_code"])  # the longest lane label there is
    monkeypatch.setattr(dashboard, "MAX_POINTS", 100)
    html = web.get(dev_cloud.url("/dashboard")).text
    assert f"{len(readings)} readings (3 without a value)" in html
    assert "the plot shows the latest 100 of them, from " in html
    readings_svg = html.split("aria-label='readings'>")[1].split("</svg>")[0]
    ticks = [float(v) for v in re.findall(r"text-anchor='end'>(-?[\d.]+)</text>", readings_svg)]
    steps = {round(b - a, 6) for a, b in itertools.pairwise(ticks)}
    assert len(ticks) >= 4 and len(steps) == 1, ticks  # evenly spaced
    assert steps.pop() in (0.5, 1, 2, 2.5, 5, 10), ticks  # and round
    lane = re.search(
        r"<text x='([\d.]+)' y='[\d.]+' text-anchor='end'>device_code_approved<", html
    )
    assert float(lane.group(1)) - dashboard.text_width("device_code_approved") > 0  # not cut off
