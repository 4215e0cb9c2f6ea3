"""`tempnode cloud` as a user runs it: `serve` in its own process (first line, server.json, a data
directory that survives a restart, the virtual clock), the admin subcommands against it, and
no secret in its log, its output or its database file."""

import json
import struct
import time
from email.utils import parsedate_to_datetime

import pytest
import requests

from host_tools.cli import main


@pytest.fixture
def cloud(dev_cloud_process, tmp_path):
    vclock = tmp_path / "vclock"
    vclock.write_bytes(struct.pack("<q", 0))
    return dev_cloud_process(tmp_path / "data", vclock=vclock)


def session(cloud):
    web = requests.Session()
    web.verify = cloud.info["ca_pem"]
    web.trust_env = False
    return web


def cli(capsys, *args):
    code = main(["cloud", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_serve_prints_where_everything_is_on_its_first_line(cloud, tmp_path):
    info = cloud.info
    assert info["url"].startswith("https://localhost:")
    for key in ("ca_der", "ca_pem", "admin_key_file"):
        assert (tmp_path / "data" / info[key].rsplit("/", 1)[1]).exists()
    assert info["dashboard"] == info["url"] + "/dashboard"
    assert json.loads((tmp_path / "data" / "server.json").read_text())["url"] == info["url"]
    assert (tmp_path / "data" / "admin.key").stat().st_mode & 0o777 == 0o600
    assert session(cloud).get(info["dashboard"]).status_code == 200


def test_admin_subcommands(cloud, tmp_path, capsys):
    data = str(tmp_path / "data")
    out_file = tmp_path / "logger-01.json"
    code, out, _ = cli(
        capsys,
        "device",
        "add",
        "logger-01",
        "--profile",
        "particle",
        "--access-ttl",
        "60",
        "--grace",
        "30",
        "--data-dir",
        data,
        "--out",
        str(out_file),
    )
    assert code == 0
    created = json.loads(out_file.read_text())
    assert out_file.stat().st_mode & 0o777 == 0o600
    assert created["client_secret"] not in out  # secrets go to the file only
    assert created["credential"]["refresh_token"] not in out
    code, out, _ = cli(capsys, "device", "show", "logger-01", "--data-dir", data)
    shown = json.loads(out)
    assert shown["lifetimes"]["access_ttl_s"] == 60 and shown["lifetimes"]["grace_s"] == 30
    code, out, _ = cli(
        capsys,
        "fault",
        "add",
        "ingest",
        "rate_limit",
        "--count",
        "2",
        "--retry-after-s",
        "5",
        "--data-dir",
        data,
    )
    assert json.loads(out)["remaining"] == 2
    assert (
        json.loads(cli(capsys, "fault", "list", "--data-dir", data)[1])[0]["kind"] == "rate_limit"
    )
    assert json.loads(cli(capsys, "fault", "clear", "--data-dir", data)[1]) == {"cleared": 1}
    assert json.loads(cli(capsys, "device", "expire", "logger-01", "--data-dir", data)[1]) == {
        "expired": 1
    }
    assert json.loads(cli(capsys, "device", "revoke", "logger-01", "--data-dir", data)[1]) == {
        "revoked": 2
    }
    assert (
        json.loads(cli(capsys, "clock", "--offset", "120", "--data-dir", data)[1])["offset_s"]
        == 120
    )
    events = json.loads(cli(capsys, "events", "--device", "logger-01", "--data-dir", data)[1])
    assert [e["kind"] for e in events][:2] == ["device_created", "issued"]
    assert json.loads(cli(capsys, "readings", "logger-01", "--data-dir", data)[1]) == []


def test_admin_mistakes_are_one_sentence_and_exit_2(cloud, tmp_path, capsys):
    data = str(tmp_path / "data")
    code, _, err = cli(capsys, "device", "show", "nobody", "--data-dir", data)
    assert code == 2 and err.strip() == "tempnode: error: There is no device 'nobody'."
    code, _, err = cli(capsys, "approve", "BCDF-GHJK", "--data-dir", data)
    assert code == 2 and "no pending device login" in err
    code, _, err = cli(capsys, "device", "list", "--data-dir", str(tmp_path / "elsewhere"))
    assert code == 2 and "tempnode cloud start" in err


def test_the_data_directory_survives_a_restart(dev_cloud_process, tmp_path):
    data = tmp_path / "data"
    first = dev_cloud_process(data)
    device = first.admin.create_device("logger-01")
    ca = (data / "ca.der").read_bytes()
    first.stop()
    second = dev_cloud_process(data)
    assert (data / "ca.der").read_bytes() == ca
    reply = session(second).post(
        second.info["url"] + "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": device["credential"]["refresh_token"],
        },
        auth=(device["client_id"], device["client_secret"]),
    )
    assert reply.status_code == 200


def test_the_cloud_follows_the_virtual_clock_file(cloud, tmp_path):
    device = cloud.admin.create_device("logger-01", access_ttl_s=3600)
    web = session(cloud)
    batch = {"device": "logger-01", "readings": []}
    headers = {"Authorization": "Bearer " + device["credential"]["access_token"]}
    reply = web.post(cloud.info["url"] + "/api/v1/readings", json=batch, headers=headers)
    assert reply.status_code == 200
    # The simulated board slept two hours of virtual time: it rewrites the offset in place.
    with open(tmp_path / "vclock", "r+b") as f:
        f.write(struct.pack("<q", 2 * 3600 * 1000))
    reply = web.post(cloud.info["url"] + "/api/v1/readings", json=batch, headers=headers)
    assert reply.status_code == 401 and reply.json()["error"] == "invalid_token"
    date = parsedate_to_datetime(reply.headers["Date"]).timestamp()
    assert date - time.time() == pytest.approx(7200, abs=5)
    assert cloud.admin.clock()["vclock_ms"] == 7200000


def test_no_secret_reaches_the_log_or_the_database_file(dev_cloud_process, tmp_path):
    data = tmp_path / "data"
    cloud = dev_cloud_process(data)
    device = cloud.admin.create_device("logger-01", password="hunter2-but-longer")
    web = session(cloud)
    url = cloud.info["url"]
    auth = (device["client_id"], device["client_secret"])
    renewed = web.post(
        url + "/oauth/token",
        auth=auth,
        data={
            "grant_type": "refresh_token",
            "refresh_token": device["credential"]["refresh_token"],
        },
    )
    login = web.post(
        url + "/oauth/token",
        auth=auth,
        data={"grant_type": "password", "username": "logger-01", "password": "hunter2-but-longer"},
    )
    start = web.post(url + "/oauth/device_authorization", data={"client_id": "logger-01"})
    web.get(start.json()["verification_uri_complete"])
    web.post(url + "/oauth/revoke", auth=auth, data={"token": login.json()["refresh_token"]})
    cloud.stop()
    secrets = [
        device["client_secret"],
        "hunter2-but-longer",
        cloud.admin.session.headers["Authorization"][7:],
        device["credential"]["access_token"],
        device["credential"]["refresh_token"],
        renewed.json()["access_token"],
        renewed.json()["refresh_token"],
        login.json()["access_token"],
        start.json()["device_code"],
        start.json()["user_code"],
    ]
    log = (data / "cloud.log").read_text()
    assert "POST /oauth/token -> 200" in log
    stored = b"".join(p.read_bytes() for p in data.glob("cloud.sqlite3*"))
    assert stored
    assert [s for s in secrets if s in log or s.encode() in stored] == []


def test_plain_http_only_when_asked(dev_cloud_process, tmp_path):
    cloud = dev_cloud_process(tmp_path / "plain", plain_http=True, memory=True)
    assert cloud.info["url"].startswith("http://localhost:")
    assert cloud.info["ca_der"] is None and not (tmp_path / "plain" / "ca.der").exists()
    device = cloud.admin.create_device("logger-01")
    web = requests.Session()
    web.trust_env = False
    reply = web.post(
        cloud.info["url"] + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(device["client_id"], device["client_secret"]),
    )
    assert reply.status_code == 200 and reply.json()["access_token"]


def test_generated_secrets_can_follow_a_command_line_option():
    from host_tools.cloud.storage import new_secret

    made = [new_secret() for _ in range(2000)]  # about 1 in 64 urlsafe strings starts with "-"
    assert not [s for s in made if s.startswith("-")]
    assert len(set(made)) == len(made) and min(map(len, made)) == 43


def test_one_folder_one_cloud_started_stopped_and_found_by_name(tmp_path, capsys):
    """`start` runs it in the background; a second server on the folder is refused and
    server.json keeps the first's address; `status`, then `stop`, then the commands say it
    is stopped instead of talking to a dead address."""
    from host_tools.cloud import process

    data = str(tmp_path / "data")
    try:
        code, out, _ = cli(capsys, "start", "--port", "0", "--data-dir", data)
        assert code == 0 and "dev cloud started: https://localhost:" in out
        info = json.loads((tmp_path / "data" / "server.json").read_text())
        code, out, _ = cli(capsys, "start", "--port", "0", "--data-dir", data)
        assert code == 0 and f"already running: {info['url']} (pid {info['pid']})" in out
        code, _, err = cli(capsys, "start", "--name", "laptop.lan", "--data-dir", data)
        assert code == 2 and "`tempnode cloud stop` first to change --bind or --name" in err
        code, _, err = cli(capsys, "serve", "--port", "0", "--data-dir", data)
        assert code == 2 and f"a dev cloud already serves from {data}" in err
        assert json.loads((tmp_path / "data" / "server.json").read_text()) == info
        code, out, _ = cli(capsys, "status", "--data-dir", data)
        assert code == 0 and f"url              {info['url']}" in out
        assert f"pid              {info['pid']}" in out
        code, out, _ = cli(capsys, "device", "list", "--data-dir", data)
        assert code == 0 and json.loads(out) == []
        code, out, _ = cli(capsys, "stop", "--data-dir", data)
        assert code == 0 and f"stopped the dev cloud at {info['url']}" in out
        with pytest.raises(requests.ConnectionError):
            requests.get(info["url"], verify=info["ca_pem"], timeout=5)
        code, out, _ = cli(capsys, "status", "--data-dir", data)
        assert code == 1 and "no dev cloud is serving" in out
        code, _, err = cli(capsys, "device", "list", "--data-dir", data)
        assert code == 2 and "(stopped): start it with `tempnode cloud start`" in err
        code, out, _ = cli(capsys, "stop", "--data-dir", data)
        assert code == 0 and "nothing to stop" in out
    finally:
        process.stop(data)
