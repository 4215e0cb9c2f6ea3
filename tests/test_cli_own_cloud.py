"""Your own cloud from the laptop: `tempnode init --issuer` reads a server's metadata, and
`tempnode provision` (with `--check`) talks to its endpoints as the device will, against a
standard OpenID Connect server (`oidc_cloud`: oidc-provider) and the dev cloud (RFC 8414 only).
"""

import json
import re
import time
import types

import pytest
from board_fixtures import WIFI_PASSWORD, board  # noqa: F401 - pytest fixture
from link_servers import BadServer

from host_tools import init_wizard, provision
from host_tools.cli import main

pytest_plugins = ["link_secret_scan"]

CODE = re.compile(r"enter the code (\S+)")


def init_own(folder, cloud, client_id, secret=None, *extra):
    args = ["init", "--dir", str(folder), "--board", "host", "--device-id", "logger-01"]
    args += ["--wifi", f"home={WIFI_PASSWORD}", "--profile", "oauth2"]
    args += ["--issuer", cloud.base_url, "--ca", str(cloud.ca_pem_path)]
    # An id or a secret may start with "-": the = form keeps argparse from taking it for a flag.
    args += [f"--client-id={client_id}", f"--client-secret={secret or ''}"]
    return main(args + list(extra))


def config_of(folder):
    return json.loads((folder / "config.json").read_text())["cloud"]


def test_init_reads_an_openid_servers_endpoints_and_the_folder_validates(
    oidc_cloud, tmp_path, capsys
):
    cloud = oidc_cloud()
    client = cloud.admin.create_device("logger-01", provision=False)
    folder = tmp_path / "dev"
    api = ["--readings-url", cloud.api.url]
    assert init_own(folder, cloud, client["client_id"], client["client_secret"], *api) == 0
    out = capsys.readouterr().out
    assert f"read {cloud.issuer}/.well-known/openid-configuration:" in out
    assert config_of(folder) == {
        "profile": "oauth2",
        "base_url": cloud.issuer,
        "ca": "ca.der",
        "client_id": client["client_id"],
        "token_url": cloud.issuer + "/token",
        "device_authorization_url": cloud.issuer + "/device/auth",
        "client_auth": "client_secret_basic",
        # The server lists offline_access: without it, it would give no refresh token.
        "scope": "readings offline_access",
        "readings_url": cloud.api.url,
        "ack": "2xx",
    }
    assert client["client_secret"] not in out
    assert main(["validate", "--dir", str(folder)]) == 0


def test_a_client_without_a_secret_is_a_public_client(oidc_cloud, tmp_path):
    cloud = oidc_cloud()
    client = cloud.admin.create_device("logger-01", provision=False, auth_method="none")
    folder = tmp_path / "dev"
    assert init_own(folder, cloud, client["client_id"], None, "--readings-url", "/api") == 0
    assert config_of(folder)["client_auth"] == "none"


def test_flags_win_over_the_metadata(oidc_cloud, tmp_path):
    cloud = oidc_cloud()
    client = cloud.admin.create_device("logger-01", provision=False)
    folder = tmp_path / "dev"
    flags = ["--readings-url", cloud.api.url, "--client-auth", "client_secret_post"]
    flags += ["--scope", "readings", "--ack", "stored"]
    assert init_own(folder, cloud, client["client_id"], client["client_secret"], *flags) == 0
    config = config_of(folder)
    assert (config["client_auth"], config["scope"], config["ack"]) == (
        "client_secret_post",
        "readings",
        "stored",
    )


def test_the_dev_cloud_publishes_rfc_8414_metadata_only(dev_cloud, tmp_path, capsys):
    folder = tmp_path / "dev"
    args = ["init", "--dir", str(folder), "--board", "host", "--device-id", "logger-01"]
    args += ["--wifi", f"home={WIFI_PASSWORD}", "--profile", "oauth2", "--issuer"]
    args += [dev_cloud.base_url, "--client-id", "c", "--client-secret", "s"]
    args += ["--ca", str(dev_cloud.ca_pem_path), "--readings-url", "/api/v1/readings"]
    assert main(args) == 0
    assert f"read {dev_cloud.base_url}/.well-known/oauth-authorization-server:" in (
        capsys.readouterr().out
    )
    config = config_of(folder)
    assert config["token_url"] == dev_cloud.base_url + "/oauth/token"
    assert config["device_authorization_url"] == dev_cloud.base_url + "/oauth/device_authorization"
    assert config["scope"] == "readings"  # it lists no offline_access


def failures():
    return [
        ("another CA", "the CA does not verify localhost:"),
        ("nobody listens", "cannot reach https://localhost:"),
        ("another name", "names the issuer 'https://localhost:"),
        ("a path without metadata", "publishes no metadata (HTTP 404 at"),
        ("not metadata", "names no issuer: not an authorization server's metadata"),
    ]


@pytest.mark.parametrize(("case", "said"), failures(), ids=[f[0] for f in failures()])
def test_every_discovery_failure_is_one_sentence_and_writes_nothing(
    oidc_cloud, dev_cloud, tmp_path, capsys, case, said
):
    cloud = oidc_cloud()
    port = cloud.issuer.rsplit(":", 1)[1]
    issuer, ca = cloud.issuer, cloud.ca_pem_path
    garbage = None
    if case == "another CA":
        ca = dev_cloud.ca_pem_path
    elif case == "nobody listens":
        cloud.server.stop()
    elif case == "another name":
        issuer = f"https://127.0.0.1:{port}"  # the certificate has both names
    elif case == "a path without metadata":
        issuer += "/realms/farm"
    else:
        certs = cloud.certs
        garbage = BadServer("ok", certs.server_cert, certs.server_key)  # 200 {"stored": []}
        issuer = garbage.base_url
    folder = tmp_path / "dev"
    args = ["init", "--dir", str(folder), "--board", "host", "--device-id", "logger-01"]
    args += ["--wifi", f"home={WIFI_PASSWORD}", "--profile", "oauth2", "--issuer", issuer]
    args += ["--client-id", "c", "--client-secret", "s", "--ca", str(ca)]
    try:
        assert main(args + ["--readings-url", "/api"]) == 2
    finally:
        if garbage:
            garbage.close()
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1, err
    assert not folder.exists()


# -- tempnode provision against the server's own endpoints


class PersonAtTheBrowser:
    """The host's device flow waits with `provision.time.sleep`: a person approves each code
    shown so far (or denies it), instead of the wait."""

    def __init__(self, cloud, capsys, deny=False):
        self.cloud, self.capsys, self.deny = cloud, capsys, deny
        self.shown = ""
        self.approved = []
        self.time = types.SimpleNamespace(monotonic=time.monotonic, sleep=self.sleep)

    def sleep(self, seconds):
        self.shown += self.capsys.readouterr().out
        for code in CODE.findall(self.shown)[len(self.approved) :]:
            (self.cloud.admin.deny if self.deny else self.cloud.admin.approve)(code)
            self.approved.append(code)

    def output(self):
        self.shown += self.capsys.readouterr().out
        return self.shown


def provisioned_folder(cloud, tmp_path, board, **client):  # noqa: F811
    info = cloud.admin.create_device("logger-01", provision=False, **client)
    folder = tmp_path / "dev"
    extra = ["--readings-url", cloud.api.url, "--port", board.port]
    assert init_own(folder, cloud, info["client_id"], info.get("client_secret"), *extra) == 0
    return folder, info


def board_credential(virtual):
    path = virtual.workdir / "credential.json"
    return json.loads(path.read_text()) if path.exists() else None


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post", "none"])
def test_provision_uses_the_servers_endpoints_scope_and_client_auth(
    oidc_cloud,
    tmp_path,
    board,  # noqa: F811
    capsys,
    monkeypatch,
    auth_method,
):
    cloud = oidc_cloud()
    folder, info = provisioned_folder(cloud, tmp_path, board, auth_method=auth_method)
    person = PersonAtTheBrowser(cloud, capsys)
    monkeypatch.setattr(provision, "time", person.time)
    assert main(["provision", "--dir", str(folder)]) == 0
    stored = board_credential(board)
    assert stored["kind"] == "refresh_token" and len(person.approved) == 1
    # What the board holds works: one renewal with it, as the device will do it.
    status, _ = cloud.admin.token_request(
        "logger-01", {"grant_type": "refresh_token", "refresh_token": stored["refresh_token"]}
    )
    assert status == 200
    assert stored["refresh_token"] not in person.output()


def test_no_refresh_token_without_offline_access_is_one_sentence_and_stores_nothing(
    oidc_cloud,
    tmp_path,
    board,  # noqa: F811
    capsys,
    monkeypatch,
):
    cloud = oidc_cloud()
    folder, _ = provisioned_folder(cloud, tmp_path, board)
    config = json.loads((folder / "config.json").read_text())
    config["cloud"]["scope"] = "readings"
    (folder / "config.json").write_text(json.dumps(config))
    person = PersonAtTheBrowser(cloud, capsys)
    monkeypatch.setattr(provision, "time", person.time)
    assert main(["provision", "--dir", str(folder)]) == 2
    assert capsys.readouterr().err == (
        "tempnode: error: " + provision.NO_REFRESH_TOKEN.format(scope='"readings"') + "\n"
    )
    assert board_credential(board) is None and not (folder / "credential.json").exists()


CHECKS = [
    # (server, what --check must say about it, approvals it takes)
    ("oidc-provider", "revoked the whole grant (reuse detection, no grace window)", 2),
    ("oidc-provider, rotation off", "the same refresh token came back", 1),
    ("dev cloud, 30 s grace", "still worked once more: the server has a grace window", 1),
    ("dev cloud, no grace", "revoked the whole grant (reuse detection, no grace window)", 2),
]


@pytest.mark.parametrize(("server", "said", "approvals"), CHECKS, ids=[c[0] for c in CHECKS])
def test_provision_check_renews_once_says_what_the_server_did_and_the_board_holds_a_working_credential(  # noqa: E501
    oidc_cloud,
    dev_cloud,
    tmp_path,
    board,  # noqa: F811
    capsys,
    monkeypatch,
    server,
    said,
    approvals,
):
    if server.startswith("oidc"):
        cloud = oidc_cloud(access_ttl_s=2, rotate="never" if "off" in server else "always")
        folder, _ = provisioned_folder(cloud, tmp_path, board)
        renew = cloud.admin.token_request
    else:
        cloud = dev_cloud
        grace = 30 if "30" in server else 0
        info = cloud.admin.create_device(
            "logger-01", "oauth2", provision=False, access_ttl_s=2, grace_s=grace
        )
        folder = tmp_path / "dev"
        args = ["init", "--dir", str(folder), "--board", "host", "--device-id", "logger-01"]
        args += ["--wifi", f"home={WIFI_PASSWORD}", "--profile", "oauth2", "--port", board.port]
        args += ["--base-url", cloud.base_url, f"--client-id={info['client_id']}"]
        args += [f"--client-secret={info['client_secret']}", "--ca", str(cloud.ca_pem_path)]
        assert main(args) == 0

        def renew(_device, fields):
            reply = cloud.session().post(
                cloud.url("/oauth/token"),
                data=fields,
                auth=(info["client_id"], info["client_secret"]),
                timeout=10,
            )
            return reply.status_code, reply.json()

    person = PersonAtTheBrowser(cloud, capsys)
    monkeypatch.setattr(provision, "time", person.time)
    assert main(["provision", "--dir", str(folder), "--check"]) == 0
    out = person.output()
    print(out)
    lines = [line for line in out.splitlines() if line.startswith("check: ")]
    assert "check: the access token lives 2 s (expires_in)" in lines, lines
    assert any(said in line for line in lines), lines
    assert len(person.approved) == approvals
    stored = board_credential(board)
    assert stored["kind"] == "refresh_token"
    assert stored["refresh_token"] not in out and stored["access_token"] not in out
    status, reply = renew(
        "logger-01", {"grant_type": "refresh_token", "refresh_token": stored["refresh_token"]}
    )
    assert status == 200, reply  # the board's credential is the one that works


def test_a_dialect_whose_device_has_no_device_flow_finds_the_endpoint_in_the_metadata(
    oidc_cloud,
    tmp_path,
    board,  # noqa: F811
    capsys,
    monkeypatch,
):
    # The particle profile gives the device no device flow; the laptop reads where the
    # server's is from its metadata. The token endpoint is a path on base_url's server.
    cloud = oidc_cloud()
    info = cloud.admin.create_device("logger-01", provision=False)
    folder = tmp_path / "dev"
    args = ["init", "--dir", str(folder), "--board", "host", "--device-id", "logger-01"]
    args += ["--wifi", f"home={WIFI_PASSWORD}", "--profile", "particle", "--port", board.port]
    args += ["--base-url", cloud.issuer, f"--client-id={info['client_id']}", "--token-url"]
    args += ["/token", "--scope", "readings offline_access"]
    args += [f"--client-secret={info['client_secret']}", "--ca", str(cloud.ca_pem_path)]
    assert main(args) == 0
    assert "device_authorization_url" not in config_of(folder)
    person = PersonAtTheBrowser(cloud, capsys)
    monkeypatch.setattr(provision, "time", person.time)
    assert main(["provision", "--dir", str(folder)]) == 0
    assert f"open {cloud.issuer}/device?user_code=" in person.output()
    assert board_credential(board)["kind"] == "refresh_token"


def test_the_interactive_wizard_asks_again_for_an_issuer_without_metadata(
    oidc_cloud, tmp_path, monkeypatch, capsys
):
    cloud = oidc_cloud()
    client = cloud.admin.create_device("logger-7", provision=False)
    answers = iter(
        ["host", "", "logger-7", "barn", "", "oauth2", cloud.issuer + "/realms/farm"]
        + [str(cloud.ca_pem_path), cloud.issuer, "", client["client_id"], cloud.api.url, ""]
        + ["", "", ""]
    )
    prompts = []

    def fake_input(prompt):
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", fake_input)
    secrets = iter(["barn-password", client["client_secret"]])
    monkeypatch.setattr(init_wizard.getpass, "getpass", lambda prompt: next(secrets))
    monkeypatch.setattr(init_wizard.sys.stdin, "isatty", lambda: True)
    assert main(["init", "--dir", str(tmp_path / "dev")]) == 0
    out = capsys.readouterr().out
    assert "publishes no metadata (HTTP 404 at" in out  # said, then asked again
    assert sum(p.startswith("Issuer URL") for p in prompts) == 2
    assert f"Cloud base URL [{cloud.issuer}]: " in prompts
    config = config_of(tmp_path / "dev")
    assert config["token_url"] == cloud.token_url and config["readings_url"] == cloud.api.url
    assert (config["base_url"], config["ack"]) == (cloud.issuer, "2xx")
