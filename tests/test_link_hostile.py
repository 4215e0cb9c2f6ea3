"""No reply from any server can stop the logger (issue 14's "done when").

The real firmware runs for an hour of device time on the simulated board against the dev cloud
behind `hostile_proxy.HostileProxy`, on the 32-bit MicroPython (a board's word size: small ints
end at 2**30, objects are half the 64-bit port's) with the smallest heap it passes in, `HEAP`:
the firmware's 32-bit peak with its .mpy in RAM, as stock ESP32 and Pico W builds run it, plus
what only the simulator holds (its hardware modules, the scenario, the bus model). For the
first 20 minutes the proxy misbehaves in one way on every endpoint (or one endpoint); then it
relays faithfully. What the user would see is checked:

- every sample taken on schedule (one a minute), every reading stored once, none lost;
- no reset the board did not plan, no safe mode, no traceback, no NEEDS PROVISIONING;
- no request longer than the device's own deadline plus `DEADLINE_BOUND_S`;
- no more requests than the backoff allows (at most one attempt per upload interval or
  backoff wait, each attempt a renewal, an upload and its one retry);
- uploads resume, without a person, within one backoff period of the server mending;
- the console says when the trouble starts and when it ends, not at every try.
"""

import json
import time
from pathlib import Path

import pytest
from field_board import start_cloud
from hostile_proxy import HostileProxy, Rule
from link_servers import leaf_certificate
from micropython_harness import micropython_binary

from host_tools.boards import load_board
from host_tools.cloud.tls import CertPaths
from host_tools.provision import credential_from
from host_tools.sim import Run, install, write_device_folder

pytest_plugins = ["link_secret_scan"]

HOUR_S = 3600
WINDOW_S = 1200  # the server misbehaves for the first 20 minutes
SAMPLE_S = 60
UPLOAD_S = 300
ACCESS_TTL_S = 600  # renewals happen inside the window
WDT_S = load_board("host")["watchdog_max_ms"] / 1000
DEADLINE_S = WDT_S - 1.5  # the longest deadline the logger gives a network step
DEADLINE_BOUND_S = 0.5  # how far past it a request may end (poll wake-up, then closing)
SENSOR = {"family": "28", "serial": "0000000e0001", "label": "tank"}
TRANSIENT_CAP_S, REFUSED_CAP_S = 900, 3600  # tempnode.backoff.POLICY
# Measured: below 200k the device flow's hour sometimes runs out of memory (5 runs in 30 at
# 192k, before the simulator's interrupt line took 1.4 KB more); at 176k the firmware samples
# but cannot make its link.
HEAP = "200k"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    cloud = start_cloud(tmp_path_factory.mktemp("hostile-cloud"))
    yield cloud
    cloud.stop()


@pytest.fixture(scope="module")
def proxy(cloud, tmp_path_factory):
    certs = CertPaths.in_dir(Path(cloud.info["ca_pem"]).parent)  # the dev cloud's own CA
    cert, key = leaf_certificate(certs, tmp_path_factory.mktemp("hostile-certs"), "localhost")
    proxy = HostileProxy(cloud.info, cert, key)
    yield proxy
    proxy.close()


def hostile_hour(
    cloud,
    proxy,
    tmp_path,
    rules,
    config=None,
    device=None,
    duration_s=HOUR_S,
    board=None,
    extra=None,
):
    """An hour (or `duration_s`) on the simulated board through the proxy: (census, console,
    exchanges)."""
    device_id = f"hostile-{int(time.time() * 1000) % 10**9}"
    registered = cloud.admin.create_device(
        device_id, "oauth2", **({"access_ttl_s": ACCESS_TTL_S} | (device or {}))
    )
    scenario = {
        "duration_s": duration_s,
        "seed": 14,
        "config": {
            "sample_interval_s": SAMPLE_S,
            "upload": {"interval_s": UPLOAD_S, "batch_size": 50},
            **(config or {}),
        },
        "sensors": [SENSOR],
        "wifi": [{"ssid": "field-wifi", "password": "field-wifi-password"}],
        **(extra or {}),
    }
    through_proxy = dict(cloud.info, url=proxy.base_url)
    write_device_folder(tmp_path / "device", scenario, through_proxy, registered)
    install(
        tmp_path,
        tmp_path / "device",
        tmp_path / "flash.img",
        credential_from(registered["credential"]),
    )
    proxy.log.clear()
    proxy.rules = rules
    proxy.t0_s = proxy.now_s()
    board = board or (micropython_binary("i386"), HEAP)
    run = Run(scenario, tmp_path, cloud.info, device_id, out=lambda line: None, board=board)
    facts = run.run()
    print(f"{rules}: {json.dumps(facts)}")
    exchanges = list(proxy.log)
    (tmp_path / "console.txt").write_text("\n".join(run.console))
    (tmp_path / "exchanges.txt").write_text("\n".join(map(str, exchanges)))
    return facts, run.console, exchanges


def assert_the_logger_rode_it_out(facts, console, exchanges, allow_resets=()):
    assert facts["lost"] == 0 and facts["stored_twice"] == 0, facts
    assert facts["taken"] >= HOUR_S // SAMPLE_S, facts  # no sample missed
    assert set(facts["resets"]) <= set(allow_resets), facts["resets"]
    assert not any("SAFE MODE" in line or "Traceback" in line for line in console), console
    assert not any("NEEDS PROVISIONING" in line for line in console), console
    assert_the_heap_sufficed(console)
    longest = max(exchanges, key=lambda e: e.duration_s)
    assert longest.duration_s <= DEADLINE_S + DEADLINE_BOUND_S, (longest, len(exchanges))


def assert_the_heap_sufficed(console):
    """`HEAP` is the firmware's budget: no step ran out of memory in it."""
    assert not any("out of memory" in line for line in console), console


def assert_backed_off(exchanges, window_end_s=WINDOW_S):
    """At most one attempt per upload interval (or longer backoff) during the trouble; each
    attempt at most a renewal, an upload and its one retry."""
    bad = [e for e in exchanges if e.mode != "pass" and e.at_s < window_end_s]
    attempts_allowed = window_end_s // UPLOAD_S + 2
    assert len(bad) <= 3 * attempts_allowed, [(round(e.at_s), e.endpoint, e.mode) for e in bad]
    return len(bad)


def first_good_upload_after(exchanges, at_s):
    good = [
        e.at_s for e in exchanges if e.endpoint == "ingest" and e.status == 200 and e.at_s >= at_s
    ]
    return min(good) if good else None


def cloud_lines(console):
    return [line for line in console if line.startswith("tempnode: cloud:")]


MODES = [
    # (mode, what the device must make of it, the backoff cap that applies)
    ("huge_chunked", "legal", None),
    ("tiny_chunks", "legal", None),
    ("error_page", "transient", TRANSIENT_CAP_S),
    ("drip_body", "transient", TRANSIENT_CAP_S),
    ("drip_headers", "transient", TRANSIENT_CAP_S),
    ("redirect", "refused", REFUSED_CAP_S),
    ("status_403", "refused", REFUSED_CAP_S),
    ("status_404", "refused", REFUSED_CAP_S),
]


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("mode", "meaning", "cap_s"), MODES, ids=[m[0] for m in MODES])
def test_an_hour_against_a_misbehaving_server_loses_nothing(
    cloud, proxy, tmp_path, mode, meaning, cap_s
):
    rules = [Rule("any", mode, 0, WINDOW_S)]
    facts, console, exchanges = hostile_hour(cloud, proxy, tmp_path, rules)
    assert_the_logger_rode_it_out(facts, console, exchanges)
    assert facts["spooled"] <= UPLOAD_S // SAMPLE_S + 1, facts  # all sent but the last interval
    if meaning == "legal":
        # A reply that is odd but correct is taken: no failure at all, nothing said.
        assert cloud_lines(console) == [], cloud_lines(console)
        assert facts["token_events"].get("refreshed", 0) >= 4, facts
        return
    requests = assert_backed_off(exchanges)
    resumed = first_good_upload_after(exchanges, WINDOW_S)
    print(
        f"{mode}: {requests} requests in the {WINDOW_S} s window; uploads resumed at {resumed} s"
    )
    assert resumed is not None and resumed - WINDOW_S <= cap_s + UPLOAD_S, resumed
    lines = cloud_lines(console)
    assert 2 <= len(lines) <= 4, lines  # the trouble starts (it may change once), and ends
    assert "fine again" in lines[-1], lines


@pytest.mark.timeout(600)
def test_a_redirect_from_the_token_endpoint_never_costs_the_credential(cloud, proxy, tmp_path):
    # Issue 14, seen 3: a 302 on the token endpoint was taken as a refused credential.
    rules = [Rule("token", "redirect", 0, WINDOW_S)]
    facts, console, exchanges = hostile_hour(
        cloud, proxy, tmp_path, rules, device={"access_ttl_s": 120}
    )
    assert_the_logger_rode_it_out(facts, console, exchanges)
    redirects = [e for e in exchanges if e.mode == "redirect"]
    assert redirects, "the device never asked the token endpoint during the window"
    assert first_good_upload_after(exchanges, WINDOW_S) is not None
    assert facts["token_events"].get("refreshed", 0) >= 1, facts


@pytest.mark.timeout(600)
def test_a_silent_server_reboots_the_board_on_schedule_and_keeps_its_backoff(
    cloud, proxy, tmp_path
):
    # Issue 14, seen 5: the silence reboot never fired against a dead server, and when it did,
    # each reboot forgot the backoff. Here the server never answers for the whole hour.
    rules = [Rule("any", "stall", 0, HOUR_S + 60)]
    facts, console, exchanges = hostile_hour(
        cloud, proxy, tmp_path, rules, config={"reboot_after_no_upload_s": 900}
    )
    assert_the_logger_rode_it_out(facts, console, exchanges, allow_resets=("reset",))
    planned = facts["resets"].get("reset", 0)
    assert 2 <= planned <= 4, facts["resets"]  # every 15 min of silence, counted across resets
    # The backoff survived the reboots: the stalls follow its schedule, not one per boot.
    assert len(exchanges) <= HOUR_S // UPLOAD_S + 2, [round(e.at_s) for e in exchanges]


@pytest.mark.timeout(300)
def test_sampling_every_five_seconds_still_uploads(cloud, proxy, tmp_path):
    # Issue 14, seen 10: with 1 s samples no upload ever fitted between two samples. The
    # validator now asks for at least 5 s, and at 5 s every reading goes out.
    config = {"sample_interval_s": 5, "upload": {"interval_s": 30, "batch_size": 50}}
    facts, console, exchanges = hostile_hour(cloud, proxy, tmp_path, [], config, duration_s=300)
    assert facts["lost"] == 0 and facts["stored_twice"] == 0, facts
    assert facts["taken"] >= 300 // 5, facts  # no sample missed
    assert facts["stored"] >= facts["taken"] - 30 // 5 - 1, facts  # all but the last interval
    assert not any("Traceback" in line for line in console), console


@pytest.mark.timeout(600)
def test_a_device_flow_that_cannot_start_is_backed_off_then_heals_without_a_person(
    cloud, proxy, tmp_path
):
    # Issue 14, seen 4: a failing device-authorization endpoint was asked at every upload
    # tick. Here the credential is revoked at the start (needs provisioning) and the device
    # endpoint redirects for the first 20 minutes; the simulator approves the code once one
    # is printed.
    rules = [Rule("device", "redirect", 0, WINDOW_S)]
    scenario_events = {"revocations": [{"at_s": 30}]}
    facts, console, exchanges = hostile_hour(cloud, proxy, tmp_path, rules, extra=scenario_events)
    starts = [e for e in exchanges if e.endpoint == "device" and e.at_s < WINDOW_S]
    print(f"device flow starts during the {WINDOW_S} s of redirects: {len(starts)}")
    assert 1 <= len(starts) <= WINDOW_S // UPLOAD_S + 2, [round(e.at_s) for e in starts]
    # Once mended, the next start waits at most the backoff after that many refusals (1 min,
    # doubling: tempnode.backoff.POLICY["refused"]) and the upload tick it lands in.
    restarts = [e.at_s for e in exchanges if e.endpoint == "device" and e.at_s >= WINDOW_S]
    assert restarts, "the device flow was never started again"
    assert restarts[0] - starts[-1].at_s <= 60 * 2 ** (len(starts) - 1) + UPLOAD_S, restarts
    assert facts["device_flow_approvals"] == 1, facts
    assert facts["lost"] == 0 and facts["stored_twice"] == 0, facts
    assert facts["taken"] >= HOUR_S // SAMPLE_S, facts
    assert facts["spooled"] <= UPLOAD_S // SAMPLE_S + 1, facts  # uploads resumed
    assert not any("SAFE MODE" in line or "Traceback" in line for line in console), console
    assert_the_heap_sufficed(console)
