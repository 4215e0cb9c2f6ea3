"""The cloud link end to end against a user's own cloud: a standard OpenID Connect server
(oidc-provider, `tests/oidc_cloud.py`) for tokens on `https://localhost`, a readings API on
`https://127.0.0.1` that checks each token by introspection and answers `201 {"stored": N}` or
`204`. The device's config names the server's own endpoints by absolute URL, its scope, its
client authentication and `ack: 2xx`, as `tempnode init --issuer` writes them. The firmware
runs under the real micropython (`tests/device_scripts/link_run.py`) and, for the two-host
config, on the simulated board (`host_tools.sim.Run`).

What is counted comes from the servers: every refused grant (the server's own event log),
every request the API refused and why, every (device, seq) it stored and every copy sent again.
"""

import json
import time

import pytest
from link_support import LinkDevice, cloud_for, uploads

from host_tools.provision import NO_REFRESH_TOKEN, credential_from
from host_tools.sim import Run, install, write_device_folder

pytest_plugins = ["link_secret_scan"]

TEN_MINUTES_MS = 600_000
EVERY_MS = 500  # an upload every half second: each 2 s token is used at every age it has


def api_refusals(cloud):
    with cloud.api.stored.lock:
        return list(cloud.api.stored.rejected)


def token_refusals(device):
    return [e for e in device.events("rejected") if e["where"] == "token"]


@pytest.mark.timeout(600)
def test_ten_minutes_of_2_s_tokens_with_exp_rounded_down_no_request_is_refused(
    oidc_cloud, tmp_path
):
    # oidc-provider stamps iat and exp in whole seconds (floor): a "2 s" token lives 1-2 s.
    cloud = oidc_cloud(rotate="always")
    device = LinkDevice.create(tmp_path, cloud, "oauth2", access_ttl_s=2)
    rounds = TEN_MINUTES_MS // EVERY_MS
    started = time.monotonic()
    run = device.run({"steps": [uploads(rounds, every_ms=EVERY_MS, close=False)]}, timeout=540)
    wall_s = time.monotonic() - started
    assert run.returncode == 0, run.output[-2000:]
    renewals = run.summary["renewals"]
    print(
        f"RESULT rounds={rounds} renewals={renewals} api_refusals={len(api_refusals(cloud))} "
        f"token_refusals={len(token_refusals(device))} copies={cloud.api.stored.copies} "
        f"handshakes={run.summary['handshakes']} wall_s={wall_s:.1f}"
    )
    assert run.summary["kept"] == [] and run.summary["failures"] == 0
    assert device.stored_seqs() == list(range(1, rounds + 1))
    assert api_refusals(cloud) == []  # not one request refused as expired
    assert cloud.api.stored.copies == 0  # ... nor sent twice
    # Every renewal rotated the refresh token and none was ever presented twice: the server
    # refused no grant and revoked none.
    assert token_refusals(device) == []
    assert len(device.events("refreshed")) == renewals
    assert not [e for e in cloud.server.events if e["event"] == "grant.revoked"]
    # At 65-75 % of the 1 s left of each token once 1 s is set aside for the rounding: every
    # second round, so about one renewal a second, and never fewer than one per lifetime.
    assert TEN_MINUTES_MS // 2000 <= renewals <= rounds // 2 + 1, renewals


@pytest.mark.parametrize("answer", ["created", "no_content"])
def test_an_api_that_answers_201_with_a_count_or_204_stores_every_reading_once(
    oidc_cloud, tmp_path, answer
):
    cloud = oidc_cloud(answer=answer)
    device = LinkDevice.create(tmp_path, cloud, "oauth2", access_ttl_s=2)
    run = device.run({"steps": [uploads(20, every_ms=1000, size=2)]})
    assert run.summary["kept"] == [] and run.summary["failures"] == 0, run.output[-2000:]
    assert device.stored_seqs() == list(range(1, 41))
    assert cloud.api.stored.copies == 0 and cloud.api.stored.posts == 20
    assert api_refusals(cloud) == []


@pytest.mark.parametrize("auth_method", ["client_secret_post", "none"])
def test_the_configured_client_authentication_renews(oidc_cloud, tmp_path, auth_method):
    cloud = oidc_cloud()
    device = LinkDevice.create(tmp_path, cloud, "oauth2", access_ttl_s=2, auth_method=auth_method)
    assert device.read_json("config.json")["cloud"]["client_auth"] == auth_method
    run = device.run({"steps": [uploads(20, every_ms=500, close=False)]})
    assert run.summary["kept"] == [] and run.summary["failures"] == 0, run.output[-2000:]
    assert run.summary["renewals"] >= 5 and token_refusals(device) == []


def test_the_device_flow_with_offline_access_stores_a_refresh_credential(oidc_cloud, tmp_path):
    cloud = oidc_cloud(access_ttl_s=2)
    device = LinkDevice.create(tmp_path, cloud, "oauth2", provision=False)
    assert device.read_json("config.json")["cloud"]["scope"] == "readings offline_access"
    run = device.run_approving({"steps": [{"do": "provision"}, uploads(10, every_ms=500)]})
    assert "tempnode: device flow approved" in run.console, run.console
    assert device.read_json("credential.json")["kind"] == "refresh_token"
    assert run.summary["kept"] == [] and device.stored_seqs() == list(range(1, 11))
    assert run.summary["renewals"] >= 2 and token_refusals(device) == []


def test_the_device_flow_without_offline_access_says_why_and_stores_nothing(oidc_cloud, tmp_path):
    cloud = oidc_cloud()
    device = LinkDevice.create(tmp_path, cloud, "oauth2", provision=False)
    config = device.read_json("config.json")
    config["cloud"]["scope"] = "readings"  # the server gives a refresh token only with it
    device.write_json("config.json", config)
    run = device.run_approving({"steps": [{"do": "provision"}]})
    failed = [line for line in run.lines if "provision failed" in line]
    sentence = NO_REFRESH_TOKEN.format(scope='"readings"')
    assert len(failed) == 1 and failed[0].endswith("provision failed: " + sentence), run.lines
    assert not (device.folder / "credential.json").exists()


@pytest.mark.parametrize("server", ["dev cloud", "oidc-provider"])
def test_client_credentials_renew_ahead_and_are_never_refused(request, tmp_path, server):
    cloud = cloud_for(request, server)
    options = {} if server == "dev cloud" else {"grant_types": ["client_credentials"]}
    options["provision"] = server == "dev cloud"  # its credential is the client's own
    device = LinkDevice.create(tmp_path, cloud, "oauth2", access_ttl_s=2, **options)
    info = device.info
    device.write_json(
        "credential.json",
        {
            "kind": "client_credentials",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
        },
    )
    run = device.run({"steps": [uploads(60, every_ms=500, close=False)]})
    assert run.summary["kept"] == [] and run.summary["failures"] == 0, run.output[-2000:]
    assert device.stored_seqs() == list(range(1, 61))
    assert 15 <= run.summary["renewals"] <= 31, run.summary["renewals"]
    assert [e for e in device.events("rejected") if e.get("where") == "api"] == []


HOUR_S = 3600


@pytest.mark.timeout(600)
def test_endpoints_on_two_hosts_work_end_to_end_on_the_simulated_board(oidc_cloud, tmp_path):
    cloud = oidc_cloud(access_ttl_s=600)
    registered = cloud.admin.create_device("own-cloud-logger")
    scenario = {
        "duration_s": HOUR_S,
        "seed": 15,
        "sensors": [{"family": "28", "serial": "0000000f0001", "label": "tank"}],
        "wifi": [{"ssid": "field-wifi", "password": "field-wifi-password"}],
    }
    info = {
        "url": cloud.issuer,
        "ca_der": str(cloud.ca_der_path),
        "vclock": str(cloud.vclock_path),
    }
    config = write_device_folder(tmp_path / "device", scenario, info, registered)
    # The server's own endpoints by absolute URL: tokens on localhost, readings on 127.0.0.1.
    config["cloud"].update(registered["cloud_config"])
    config["sample_interval_s"], config["upload"] = 60, {"interval_s": 300, "batch_size": 50}
    (tmp_path / "device" / "config.json").write_text(json.dumps(config, indent=2))
    install(
        tmp_path,
        tmp_path / "device",
        tmp_path / "flash.img",
        credential_from(registered["credential"]),
    )
    run = Run(
        scenario, tmp_path, info, "own-cloud-logger", out=lambda line: None, admin=cloud.admin
    )
    facts = run.run()
    print(f"RESULT {json.dumps(facts)}")
    console = run.console
    assert not any("Traceback" in line or "SAFE MODE" in line for line in console), console
    assert not any("NEEDS PROVISIONING" in line for line in console), console
    assert facts["lost"] == 0 and facts["stored_twice"] == 0, facts
    assert facts["taken"] >= HOUR_S // 60 and facts["spooled"] <= 300 // 60 + 1, facts
    assert facts["stored"] == facts["taken"] - facts["spooled"], facts
    assert facts["token_events"].get("refreshed", 0) >= 4, facts  # renewals on the token host
    # The access token provisioning stored has no issue time the device knows: it is used
    # until the API refuses it once (then renewed, and the batch sent once more).
    assert api_refusals(cloud) in ([], [(401, "inactive")]) and cloud.api.stored.copies == 0
