"""The no-reading reasons are one list: the firmware's (`tempnode.ds18x20.REASONS`), the dev
cloud's (`host_tools.cloud.ingest.NO_READING_REASONS`) and the README's wire contract; the
cloud stores a reading with any of them and its dashboard names it."""

import re

from sensor_sim import REPO, install_fakes

from host_tools.cloud.ingest import NO_READING_REASONS

install_fakes()
from tempnode import ds18x20  # noqa: E402


def readme_reasons():
    text = (REPO / "README.md").read_text()
    sentence = re.search(r"a reading without a\s+value has `error`: (.*?)\.\n", text, re.S)
    assert sentence, "the wire contract's reasons sentence"
    return tuple(re.findall(r"`([a-z_]+)`", sentence.group(1)))


def test_firmware_cloud_and_readme_list_the_same_reasons():
    assert ds18x20.REASONS == NO_READING_REASONS == readme_reasons()


def test_the_dev_cloud_stores_and_shows_the_new_reasons(dev_cloud):
    device = dev_cloud.admin.create_device("logger-01", "oauth2", access_ttl_s=600, grace_s=30)
    token = device["credential"]["access_token"]
    now = dev_cloud.admin.clock()["now"]
    readings = [
        {"seq": i, "sensor": "28ff4a1b02170345", "label": "tank", "t": now - 60 + i, "error": e}
        for i, e in enumerate(("stuck", "unconfirmed"))
    ]
    reply = dev_cloud.session().post(
        dev_cloud.url("/api/v1/readings"),
        json={"device": "logger-01", "readings": readings},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200 and reply.json()["stored"] == [0, 1]
    html = dev_cloud.session().get(dev_cloud.url("/dashboard")).text
    assert "no reading (stuck)" in html and "no reading (unconfirmed)" in html
