# The device config validator under MicroPython: what the board says at boot about config.json.
import gc
import json

from tempnode import config

HEAPSIZE = "128k"

BOARDS = {"esp32-devkitc": {"name": "esp32-devkitc", "verified_tls": True}}
ESP8266 = {"nodemcu-esp8266": {"name": "nodemcu-esp8266", "verified_tls": False}}


def valid():
    return {
        "device_id": "logger-01",
        "board": "esp32-devkitc",
        "wifi": [{"ssid": "home"}, {"ssid": "barn"}],
        "cloud": {
            "profile": "oauth2",
            "base_url": "https://cloud.example",
            "ca": "ca.der",
            "client_id": "tempnode",
        },
        "sensors": {"28ff4a1b02170345": {"label": "tank", "resolution": 11}},
    }


def test_valid_config_has_no_problems_and_gets_the_documented_defaults():
    cfg = valid()
    assert config.check(cfg, BOARDS) == []
    config.with_defaults(cfg)
    assert cfg["sample_interval_s"] == 60
    assert cfg["upload"] == {"interval_s": 300, "batch_size": 50}
    assert cfg["sensor_retries"] == 2
    assert cfg["spool_capacity"] == 10000
    assert cfg["deep_sleep"] == {"enabled": False, "upload_every_wakes": 10}
    assert cfg["reboot_after_no_upload_s"] == 3600
    assert cfg["cloud"]["insecure_tls"] is False
    assert cfg["sensors"]["28ff4a1b02170345"]["resolution"] == 11
    # A defaulted config still checks clean.
    assert config.check(cfg, BOARDS) == []


def test_every_problem_is_reported_with_field_value_and_expectation():
    cfg = valid()
    cfg["upload"] = {"batch_size": 500, "interval_s": 0}
    cfg["sample_interval_s"] = "60"
    cfg["sensors"]["28FF4A1B02170345"] = {"label": "x"}
    cfg["sensors"]["28ff4a1b02170346"] = {"label": "pipe", "resolution": 13}
    problems = config.check(cfg, BOARDS)
    assert problems == [
        'sample_interval_s is "60", expected whole seconds from 5 to 86400 (an upload needs a '
        "few seconds between two samples)",
        "upload.interval_s is 0, expected whole seconds from 1 to 604800",
        "upload.batch_size is 500, expected a whole number from 1 to 200",
        'sensors key is "28FF4A1B02170345", '
        "expected a ROM: 16 lowercase hex digits, family byte first",
        "sensors.28ff4a1b02170346.resolution is 13, expected 9, 10, 11 or 12 (bits)",
    ], problems


def test_missing_required_fields_and_typos_are_named():
    cfg = valid()
    del cfg["device_id"]
    del cfg["cloud"]["client_id"]
    cfg["sampel_interval_s"] = 30
    problems = config.check(cfg, BOARDS)
    assert "sampel_interval_s is an unknown field (a typo?)" in problems
    assert "device_id is missing, expected 1-32 letters, digits, '-' or '_'" in problems
    assert (
        "cloud.client_id is missing, expected the OAuth client id the cloud gave you" in problems
    )
    assert len(problems) == 3, problems


def test_plain_http_needs_an_explicit_opt_in_and_https_needs_a_ca():
    cfg = valid()
    cfg["cloud"]["base_url"] = "http://cloud.example"
    problems = config.check(cfg, BOARDS)
    assert problems == [
        'cloud.base_url is "http://cloud.example", '
        "expected https:// (or set cloud.insecure_http: true)"
    ], problems
    cfg["cloud"]["insecure_http"] = True
    del cfg["cloud"]["ca"]
    assert config.check(cfg, BOARDS) == []
    cfg = valid()
    del cfg["cloud"]["ca"]
    assert config.check(cfg, BOARDS)[0].startswith("cloud.ca is missing")


def test_a_board_without_verified_tls_needs_the_explicit_opt_out():
    cfg = valid()
    cfg["board"] = "nodemcu-esp8266"
    problems = config.check(cfg, ESP8266)
    assert len(problems) == 1 and problems[0].startswith("cloud.insecure_tls is false"), problems
    assert "cannot verify TLS" in problems[0]
    cfg["cloud"]["insecure_tls"] = True
    assert config.check(cfg, ESP8266) == []


def test_a_config_for_another_board_is_refused():
    cfg = valid()
    cfg["board"] = "pico-w"
    assert config.check(cfg, BOARDS) == ['board is "pico-w", expected one of esp32-devkitc']


def test_dialect_fields_are_required_per_profile():
    cfg = valid()
    cfg["cloud"]["profile"] = "usergrid"
    assert config.check(cfg, BOARDS) == [
        "cloud.org is missing, expected it with profile usergrid",
        "cloud.app is missing, expected it with profile usergrid",
    ]
    cfg["cloud"]["profile"] = "speckle"
    assert config.check(cfg, BOARDS) == [
        "cloud.app_id is missing, expected it with profile speckle"
    ]


def test_passwords_in_config_are_refused_and_secret_values_are_never_shown():
    cfg = valid()
    cfg["wifi"][0]["password"] = "hunter2hunter2"
    problems = config.check(cfg, BOARDS)
    assert "passwords belong in secrets.json" in problems[0], problems
    secrets = {"wifi": {"home": "s3cret-pass"}, "client_secret": 7}
    problems = config.check_secrets(secrets, valid())
    assert problems == [
        "client_secret is a number, expected a non-empty string",
        'wifi has no password for "barn", expected "wifi": {"barn": "<password>"} '
        '("" for an open network)',
    ], problems
    assert "s3cret" not in "".join(problems)


def test_garbage_is_one_clear_line_not_a_crash():
    assert config.check([1, 2], BOARDS) == ["config is [1, 2], expected a JSON object"]
    cfg = valid()
    cfg["cloud"] = "oauth2"
    cfg["wifi"] = {"ssid": "home"}
    cfg["sensors"] = {"28ff4a1b02170345": "tank"}
    problems = config.check(cfg, BOARDS)
    assert problems == [
        'wifi is {"ssid": "home"}, expected a list of 1-8 networks like [{"ssid": "home"}]',
        'cloud is "oauth2", expected an object with the cloud\'s profile and URL',
        'sensors.28ff4a1b02170345 is "tank", expected an object like {"label": "tank"}',
    ], problems


def test_secrets_problems_follow_the_field_is_value_expected_form_without_a_secret():
    assert config.check_secrets(["hunter2hunter2"], valid()) == [
        "secrets.json is a list, expected a JSON object"
    ]
    problems = config.check_secrets(
        {"wifi": ["home", "hunter2hunter2"], "client_secret": "", "app_secret": 12345678},
        valid(),
    )
    assert problems == [
        'client_secret is "", expected a non-empty string',
        "app_secret is a number, expected a non-empty string",
        'wifi is a list, expected {"<ssid>": "<password>"}',
    ], problems
    assert "hunter2" not in "".join(problems) and "12345678" not in "".join(problems)


def _allocated_by_check(cfg):
    gc.collect()
    before = gc.mem_alloc()
    assert config.check(cfg, BOARDS) == []
    return gc.mem_alloc() - before


def test_checking_a_valid_config_allocates_little():
    cfg = json.loads(json.dumps(valid()))
    # The first call pays one-time interpreter costs; a boot runs it once.
    first = _allocated_by_check(cfg)
    again = _allocated_by_check(cfg)
    print("config.check allocated %d bytes (first call), %d bytes (again)" % (first, again))
    # A boot-time cost an ESP8266 (about 30 KB free) can afford.
    assert first < 4096, first
    assert again < 512, again


def test_a_clouds_own_endpoints_and_options_are_checked():
    cfg = valid()
    cfg["cloud"].update(
        {
            "token_url": "https://auth.example/realms/farm/protocol/openid-connect/token",
            "device_authorization_url": "/realms/farm/protocol/openid-connect/auth/device",
            "readings_url": "https://api.example/v2/readings",
            "scope": "readings offline_access",
            "client_auth": "client_secret_post",
            "ack": "2xx",
            "readings_body": "json",
        }
    )
    assert config.check(cfg, BOARDS) == []
    cfg["cloud"].update(
        {
            "token_url": "http://auth.example/token",
            "readings_url": "readings",
            "client_auth": "private_key_jwt",
            "ack": 200,
        }
    )
    problems = config.check(cfg, BOARDS)
    assert any(p.startswith("cloud.token_url is") and "https://" in p for p in problems), problems
    assert any(p.startswith('cloud.readings_url is "readings"') for p in problems), problems
    assert any(p.startswith('cloud.client_auth is "private_key_jwt"') for p in problems), problems
    assert any(p.startswith("cloud.ack is 200, expected stored") for p in problems), problems
    assert len(problems) == 4, problems
