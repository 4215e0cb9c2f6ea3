"""`tempnode release` and the dev cloud's update endpoints as a user and a device meet them:
the signing key (made once, mode 600, refused when others can read it), publish and list,
the key in the config deploy sends, Range replies behind the device's bearer token, the
firmware a batch names on the list and the dashboard, and one-sentence refusals."""

import base64
import json
import stat

import pytest

from host_tools import release_key
from host_tools.cli import main
from host_tools.deploy import board_config

DEVICE = "logger-ota"


@pytest.fixture
def cloud(dev_cloud_process, tmp_path):
    return dev_cloud_process(tmp_path / "cloud-data")


def make_folder(tmp_path, cloud, profile="oauth2", board="host"):
    folder = tmp_path / f"{profile}-{board}"
    args = ["init", "--dir", str(folder), "--board", board, "--device-id", DEVICE]
    args += ["--wifi", "home=hunter2-wifi-pass", "--profile", profile]
    args += ["--base-url", cloud.info["url"], "--client-id", "tempnode"]
    args += ["--client-secret", "cs-never-printed", "--ca", cloud.info["ca_pem"]]
    assert main(args) == 0
    return folder


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_signing_key_is_made_once_kept_private_and_refused_when_others_can_read_it(
    tmp_path, monkeypatch, capsys
):
    path = tmp_path / "keys" / "release.pem"
    monkeypatch.setenv("TEMPNODE_RELEASE_KEY", str(path))
    first = release_key.public_hex(release_key.load_or_create())
    assert f"made the release signing key {path} (mode 600)" in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert release_key.public_hex(release_key.load_or_create()) == first
    assert len(first) == 64 and capsys.readouterr().out == ""  # made once, not again
    path.chmod(0o644)
    with pytest.raises(Exception, match=r"can be read by others \(mode 644\): run `chmod 600"):
        release_key.load_or_create()


def test_deploy_gives_the_board_the_publisher_s_public_key_where_the_cloud_offers_updates(
    tmp_path, cloud
):
    public = release_key.public_hex(release_key.load_or_create())
    assert board_config(make_folder(tmp_path, cloud))["ota"] == {"public_key": public}
    assert "ota" not in board_config(make_folder(tmp_path, cloud, profile="particle"))


def test_publish_then_list_shows_the_release_and_what_each_device_runs(tmp_path, cloud, capsys):
    folder = make_folder(tmp_path, cloud)
    data = cloud.info["data_dir"]
    code, out, err = cli(capsys, "release", "publish", "--dir", str(folder), "--cloud-dir", data)
    assert code == 0, err
    version = out.split("published version ", 1)[1].split()[0]
    assert "for board host on channel stable: " in out and "signed by key" in out
    code, out, _ = cli(capsys, "release", "list", "--cloud-dir", data)
    assert code == 0 and version in out and "channels: stable" in out, out
    device = cloud.admin.create_device(DEVICE, "oauth2")
    web = _device_session(cloud, device)
    batch = {"device": DEVICE, "sent_mono_ms": 1000, "readings": [], "firmware": version}
    batch["update"] = {"version": "0.0.1+old", "outcome": "rolled_back", "reason": "it hung"}
    assert web.post(cloud.info["url"] + "/api/v1/readings", json=batch).status_code == 200
    _, out, _ = cli(capsys, "release", "list", "--cloud-dir", data)
    assert f"{DEVICE}" in out and f"runs {version}" in out, out
    assert "last update 0.0.1+old: rolled_back (it hung)" in out, out
    page = web.get(cloud.info["url"] + "/dashboard").text
    assert f"firmware {version} (last update 0.0.1+old rolled back: it hung)" in page
    kinds = [e["kind"] for e in cloud.admin.events(DEVICE)]
    assert "firmware" in kinds and "update_rolled_back" in kinds, kinds


def _device_session(cloud, device):
    import requests

    web = requests.Session()
    web.verify = cloud.info["ca_pem"]
    web.trust_env = False
    web.headers["Authorization"] = "Bearer " + device["credential"]["access_token"]
    return web


def test_the_cloud_serves_a_release_in_byte_ranges_only_to_a_device_token(tmp_path, cloud, capsys):
    folder = make_folder(tmp_path, cloud)
    data = cloud.info["data_dir"]
    assert cli(capsys, "release", "publish", "--dir", str(folder), "--cloud-dir", data)[0] == 0
    web = _device_session(cloud, cloud.admin.create_device(DEVICE, "oauth2"))
    base = cloud.info["url"] + "/api/v1/ota/host"
    offer = web.get(base + "/channels/stable").json()
    assert len(offer["signature"]) == 128 and offer["manifest_size"] > 100
    release = f"{base}/releases/{offer['version']}"
    whole = web.get(release + "/manifest")
    assert whole.status_code == 200 and len(whole.content) == offer["manifest_size"]
    manifest = json.loads(whole.content)
    first = web.get(release + "/files/0", headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and len(first.content) == 100
    size = manifest["files"][0][1]
    assert first.headers["Content-Range"] == f"bytes 0-99/{size}"
    rest = web.get(release + "/files/0", headers={"Range": f"bytes=100-{size + 500}"})
    assert rest.status_code == 206 and len(first.content + rest.content) == size
    beyond = web.get(release + "/files/0", headers={"Range": f"bytes={size}-{size + 9}"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"
    assert web.get(base + "/channels/beta").status_code == 404
    del web.headers["Authorization"]
    refused = web.get(release + "/manifest")
    assert refused.status_code == 401 and "Bearer" in refused.headers["WWW-Authenticate"]


def test_what_cannot_be_published_says_what_to_do_in_one_sentence(tmp_path, cloud, capsys):
    data = cloud.info["data_dir"]
    particle = make_folder(tmp_path, cloud, profile="particle")
    code, _, err = cli(capsys, "release", "publish", "--dir", str(particle), "--cloud-dir", data)
    assert code == 2 and "offers no firmware updates" in err and err.count("\n") == 1, err
    folder = make_folder(tmp_path, cloud)
    config = json.loads((folder / "config.json").read_text())
    config["ota"] = {"public_key": "ab" * 32}
    (folder / "config.json").write_text(json.dumps(config))
    code, _, err = cli(capsys, "release", "publish", "--dir", str(folder), "--cloud-dir", data)
    assert code == 2 and "trusts another publisher key (abababababababab...)" in err, err
    code, _, err = cli(capsys, "release", "list", "--cloud-dir", str(tmp_path / "nothing"))
    assert code == 2 and "no dev cloud has run from" in err, err


def test_the_cloud_keeps_a_version_as_first_published_and_files_as_signed(cloud):
    import hashlib

    entry = ["tempnode/__init__.mpy", 1, hashlib.sha256(b"a").hexdigest()]
    manifest = json.dumps({"board": "host", "version": "1+x", "files": [entry]})
    body = {
        "channel": "stable",
        "manifest": manifest,
        "signature": "0" * 128,
        "files": {entry[0]: base64.b64encode(b"a").decode()},
    }
    assert cloud.admin.publish_release(body)["new"] is True
    assert cloud.admin.publish_release(dict(body, channel="beta"))["new"] is False
    with pytest.raises(Exception, match="already published with other contents"):
        cloud.admin.publish_release(dict(body, signature="1" * 128))
    with pytest.raises(Exception, match="does not match the manifest"):
        cloud.admin.publish_release(dict(body, files={entry[0]: base64.b64encode(b"b").decode()}))
