"""The device configuration: schema, defaults and validation, shared by the device and the host.

The same file runs on the board at boot (MicroPython) and on the laptop for `tempnode validate`
and `tempnode init` (CPython), so both print the same one-line messages:
`<field> is <value>, expected <what>`. Checking collects every problem, not just the first.

`config.json` holds no secret; `secrets.json` holds Wi-Fi passwords (`"wifi": {ssid: password}`)
and static client secrets. Messages about secrets name the field, never the value.

The schema is data (`_FIELDS`): a field is (section, name, kind, low, high, default, expected).
`kind` picks a checker from `_CHECKS`; `low`/`high` bound integers and string lengths (for a
`choice`, `low` is the tuple of allowed values); a default of `_REQUIRED` makes the field
mandatory. Rules that tie fields together (the URL
scheme and the CA, the board's TLS tier, per-dialect fields) follow the table.
No `re` (heavy on the device); nothing allocated unless there is a problem to report.
"""

import json

_REQUIRED = "required"
PROFILES = ("oauth2", "particle", "spark2014", "usergrid", "speckle")  # tempnode.profiles.NAMES
_ENDPOINTS = ("token_url", "device_authorization_url", "readings_url")
_ENDPOINT = "an https:// URL, or a path starting with / on base_url's server"

# Fields only some cloud dialects need (README, "Cloud wire contract").
_PROFILE_FIELDS = {"usergrid": ("org", "app"), "speckle": ("app_id",)}

# (section, name, kind, low, high, default, expected); section "" is the top level.
_FIELDS = (
    ("", "device_id", "name", 1, 32, _REQUIRED, "1-32 letters, digits, '-' or '_'"),
    ("", "board", "text", 1, 40, _REQUIRED, "a board name from `tempnode boards`"),
    ("", "wifi", "wifi", 1, 8, _REQUIRED, 'a list of 1-8 networks like [{"ssid": "home"}]'),
    ("", "cloud", "object", 0, 0, _REQUIRED, "an object with the cloud's profile and URL"),
    ("cloud", "profile", "choice", PROFILES, 0, _REQUIRED, "one of " + ", ".join(PROFILES)),
    ("cloud", "base_url", "url", 8, 200, _REQUIRED, "an https:// URL such as https://api.example"),
    (
        "cloud",
        "ca",
        "file",
        1,
        32,
        None,
        "the CA certificate's file name on the device, e.g. ca.der",
    ),
    ("cloud", "insecure_tls", "bool", 0, 0, False, "true or false"),
    ("cloud", "insecure_http", "bool", 0, 0, False, "true or false"),
    ("cloud", "client_id", "text", 1, 200, _REQUIRED, "the OAuth client id the cloud gave you"),
    ("cloud", "org", "text", 1, 100, None, "the Usergrid organization name"),
    ("cloud", "app", "text", 1, 100, None, "the Usergrid application name"),
    ("cloud", "app_id", "text", 1, 100, None, "the Speckle application id"),
    # Your own server's endpoints and options (tempnode.profiles.OPTIONS; README, "Your own
    # cloud"); the profile's are the defaults.
    ("cloud", "token_url", "endpoint", 1, 300, None, _ENDPOINT),
    ("cloud", "device_authorization_url", "endpoint", 1, 300, None, _ENDPOINT),
    ("cloud", "readings_url", "endpoint", 1, 300, None, _ENDPOINT),
    (
        "cloud",
        "scope",
        "text",
        1,
        200,
        None,
        'the scope to ask for, e.g. "readings offline_access"',
    ),
    (
        "cloud",
        "client_auth",
        "choice",
        ("client_secret_basic", "client_secret_post", "none"),
        0,
        None,
        "client_secret_basic, client_secret_post or none",
    ),
    (
        "cloud",
        "ack",
        "choice",
        ("stored", "2xx"),
        0,
        None,
        "stored (the reply lists the stored seqs) or 2xx (any 2xx means all stored)",
    ),
    (
        "cloud",
        "readings_body",
        "choice",
        ("json", "particle_event"),
        0,
        None,
        "json or particle_event",
    ),
    # An upload session needs a few seconds between two samples (a TLS handshake takes 1-2 s
    # on an ESP32), and the sample, not the upload, gives way: so at least 5 s (issue 14).
    (
        "",
        "sample_interval_s",
        "int",
        5,
        86400,
        60,
        "whole seconds from 5 to 86400 (an upload needs a few seconds between two samples)",
    ),
    ("", "upload", "object", 0, 0, {}, "an object with interval_s and batch_size"),
    ("upload", "interval_s", "int", 1, 604800, 300, "whole seconds from 1 to 604800"),
    ("upload", "batch_size", "int", 1, 200, 50, "a whole number from 1 to 200"),
    (
        "",
        "sensors",
        "sensors",
        0,
        64,
        {},
        'an object like {"28ff4a1b02170345": {"label": "tank"}}',
    ),
    ("", "sensor_retries", "int", 0, 5, 2, "a whole number from 0 to 5"),
    ("", "spool_capacity", "int", 10, 1000000, 10000, "a number of readings from 10 to 1000000"),
    ("", "deep_sleep", "object", 0, 0, {}, "an object with enabled and upload_every_wakes"),
    ("deep_sleep", "enabled", "bool", 0, 0, False, "true or false"),
    ("deep_sleep", "upload_every_wakes", "int", 1, 1000, 10, "a whole number from 1 to 1000"),
    ("", "reboot_after_no_upload_s", "int", 0, 31536000, 3600, "seconds (0 = never reboot)"),
    ("", "ota", "object", 0, 0, {}, "an object with public_key, channel and check_interval_s"),
    (
        "ota",
        "public_key",
        "key",
        64,
        64,
        None,
        "the publisher's Ed25519 public key: 64 hex digits (tempnode deploy adds it)",
    ),
    ("ota", "channel", "name", 1, 32, "stable", "1-32 letters, digits, '-' or '_'"),
    ("ota", "check_interval_s", "int", 60, 2592000, 86400, "seconds from 60 to 2592000"),
)

_SENSOR_FIELDS = (
    ("", "label", "text", 1, 24, _REQUIRED, "a label of 1-24 characters"),
    ("", "resolution", "int", 9, 12, 12, "9, 10, 11 or 12 (bits)"),
)
_SECTIONS = ("", "cloud", "upload", "deep_sleep", "ota")

_SECRET_FIELDS = ("client_secret", "app_secret")
_HEX = "0123456789abcdef"
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def check(config, boards):
    """Every problem in `config`, one line each (empty when it is valid).

    `boards` maps board names to board facts (`boards/*.json` on the host, `board.json` alone
    on the device); the config's board must be one of them.
    """
    if not isinstance(config, dict):
        return ["config is %s, expected a JSON object" % _show(config)]
    problems = []
    for section in _SECTIONS:
        _check_known(config, _FIELDS, section, "", problems)
    _check_fields(config, _FIELDS, "", problems)
    sensors = config.get("sensors")
    if isinstance(sensors, dict):
        _check_sensors(sensors, problems)
    name = config.get("board")
    board = boards.get(name) if isinstance(name, str) else None
    if isinstance(name, str) and board is None:
        problems.append(_problem("board", name, "one of " + ", ".join(sorted(boards))))
    cloud = config.get("cloud")
    if isinstance(cloud, dict):
        _check_cloud(cloud, board, problems)
    return problems


def check_secrets(secrets, config):
    """Every problem in `secrets`, naming fields and SSIDs but never showing a secret."""
    if not isinstance(secrets, dict):
        return ["secrets.json is %s, expected a JSON object" % _kind(secrets)]
    problems = []
    for key in sorted(secrets):
        if key != "wifi" and key not in _SECRET_FIELDS:
            known = ", ".join(("wifi",) + _SECRET_FIELDS)
            problems.append("%s is an unknown field, expected one of %s" % (_show(key), known))
    for key in _SECRET_FIELDS:
        if key in secrets and not (isinstance(secrets[key], str) and secrets[key]):
            problems.append("%s is %s, expected a non-empty string" % (key, _kind(secrets[key])))
    passwords = secrets.get("wifi", {})
    if not isinstance(passwords, dict):
        return problems + ['wifi is %s, expected {"<ssid>": "<password>"}' % _kind(passwords)]
    for network in config.get("wifi") or ():
        ssid = network.get("ssid") if isinstance(network, dict) else None
        if isinstance(ssid, str) and not isinstance(passwords.get(ssid), str):
            problems.append(
                'wifi has no password for %s, expected "wifi": {%s: "<password>"} '
                '("" for an open network)' % (_show(ssid), _quote(ssid))
            )
    return problems


def with_defaults(config):
    """`config` with every missing optional field set to its default (changes it in place)."""
    _fill_defaults(config, _FIELDS)
    for sensor in config["sensors"].values():
        _fill_defaults(sensor, _SENSOR_FIELDS)
    return config


def _fill_defaults(root, fields):
    for section, name, _kind, _low, _high, default, _expected in fields:
        obj = root[section] if section else root
        if default is not _REQUIRED and default is not None and name not in obj:
            obj[name] = {} if isinstance(default, dict) else default


def _check_known(root, fields, section, prefix, problems):
    obj = root.get(section) if section else root
    if not isinstance(obj, dict):
        return
    unknown = None
    for key in obj:
        if not _declared(fields, section, key):
            unknown = unknown or []
            unknown.append("%s is an unknown field (a typo?)" % _path(prefix, section, key))
    if unknown:
        unknown.sort()
        problems.extend(unknown)


def _declared(fields, section, key):
    for field in fields:
        if field[0] == section and field[1] == key:
            return True
    return False


def _check_fields(root, fields, prefix, problems):
    for section, name, kind, low, high, default, expected in fields:
        obj = root.get(section) if section else root
        if not isinstance(obj, dict):
            continue  # the section's own check reports it
        if name not in obj:
            if default is _REQUIRED:
                path = _path(prefix, section, name)
                problems.append("%s is missing, expected %s" % (path, expected))
            continue
        message = _CHECKS[kind](obj[name], low, high)
        if message is not None:
            path = _path(prefix, section, name)
            problems.append(_problem(path, obj[name], message or expected))


def _check_cloud(cloud, board, problems):
    insecure_http = cloud.get("insecure_http") is True
    missing_ca = False
    for key in ("base_url",) + _ENDPOINTS:
        url = cloud.get(key)
        if not isinstance(url, str):
            continue
        if url.startswith("http://") and not insecure_http:
            problems.append(
                _problem("cloud." + key, url, "https:// (or set cloud.insecure_http: true)")
            )
        missing_ca = missing_ca or (url.startswith("https://") and "ca" not in cloud)
    if missing_ca:
        problems.append(
            "cloud.ca is missing, expected the CA certificate's file name on the device "
            "(e.g. ca.der): TLS is always verified"
        )
    if board is not None and not board.get("verified_tls", True) and not insecure_http:
        if cloud.get("insecure_tls") is not True:
            problems.append(
                _problem(
                    "cloud.insecure_tls",
                    cloud.get("insecure_tls", False),
                    "true: board %s cannot verify TLS certificates, so it needs this explicit "
                    "opt-out" % board.get("name"),
                )
            )
    profile = cloud.get("profile")
    for name in _PROFILE_FIELDS.get(profile, ()) if isinstance(profile, str) else ():
        if name not in cloud:
            problems.append("cloud.%s is missing, expected it with profile %s" % (name, profile))


def _check_sensors(sensors, problems):
    found = None
    for rom in sensors:
        entry = sensors[rom]
        if _is_rom(rom) and isinstance(entry, dict):
            before = len(problems)
            _check_known(entry, _SENSOR_FIELDS, "", "sensors." + rom + ".", problems)
            _check_fields(entry, _SENSOR_FIELDS, "sensors." + rom + ".", problems)
            if len(problems) == before:
                continue
            found = (found or []) + problems[before:]
            del problems[before:]
        elif not _is_rom(rom):
            found = (found or []) + [
                "sensors key is %s, expected a ROM: 16 lowercase hex digits, "
                "family byte first" % _show(rom)
            ]
        else:
            found = (found or []) + [
                _problem("sensors." + rom, entry, 'an object like {"label": "tank"}')
            ]
    if found:
        found.sort()  # the same order on every interpreter, whatever its dict order
        problems.extend(found)


# Each checker returns None when the value is fine, "" for "see the field's expected text",
# or a more precise expectation.
def _text(value, low, high):
    if isinstance(value, str) and low <= len(value) <= high and value.strip() == value:
        return None
    return ""


def _name(value, low, high):
    if _text(value, low, high) is not None:
        return ""
    for ch in value:
        if ch not in _NAME_CHARS:
            return ""
    return None


def _int(value, low, high):
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return None
    return ""


def _bool(value, _low, _high):
    return None if isinstance(value, bool) else ""


def _choice(value, choices, _high):
    return None if isinstance(value, str) and value in choices else ""


def _object(value, _low, _high):
    return None if isinstance(value, dict) else ""


def _url(value, low, high):
    if _text(value, low, high) is not None or " " in value:
        return ""
    if value.startswith("https://") or value.startswith("http://"):
        return None
    return ""


def _endpoint(value, low, high):
    if isinstance(value, str) and value.startswith("/"):
        return _text(value, low, high) if " " not in value else ""
    return _url(value, low, high)


def _file(value, low, high):
    if _text(value, low, high) is not None or "/" in value:
        return ""
    if not value.endswith(".der"):
        return "a DER certificate file name ending in .der (convert PEM: tempnode init --ca)"
    return None


def _wifi(value, low, high):
    if not isinstance(value, list) or not low <= len(value) <= high:
        return ""
    for network in value:
        if not isinstance(network, dict) or _text(network.get("ssid"), 1, 32) is not None:
            return 'a list of networks, each like {"ssid": "home"} (1-32 characters)'
        if len(network) != 1:
            return 'a list of {"ssid": ...} objects: passwords belong in secrets.json'
    return None


def _key(value, low, high):
    if not isinstance(value, str) or not low <= len(value) <= high:
        return ""
    for ch in value:
        if ch not in _HEX:
            return ""
    return None


def _sensors(value, low, high):
    return None if isinstance(value, dict) and low <= len(value) <= high else ""


_CHECKS = {
    "text": _text,
    "name": _name,
    "int": _int,
    "bool": _bool,
    "choice": _choice,
    "object": _object,
    "url": _url,
    "endpoint": _endpoint,
    "file": _file,
    "wifi": _wifi,
    "sensors": _sensors,
    "key": _key,
}


def _is_rom(key):
    if not isinstance(key, str) or len(key) != 16:
        return False
    for ch in key:
        if ch not in _HEX:
            return False
    return True


def _path(prefix, section, name):
    return prefix + (section + "." if section else "") + str(name)


def _problem(path, value, expected):
    return "%s is %s, expected %s" % (path, _show(value), expected)


def _kind(value):
    # What a value in secrets.json is, without showing it: a wrong-typed secret is still one.
    if value == "" or value is None or isinstance(value, bool):
        return _show(value)
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _show(value):
    # JSON spelling (true, null, "text"), as the user wrote it in config.json.
    text = _quote(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _quote(text):
    # The same rendering on MicroPython and CPython (their reprs differ for some strings).
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
