"""The admin API (`/admin/...`, JSON, `Authorization: Bearer <admin key>`): devices and their
credentials, lifetimes, the clock, faults, device-flow approvals, readings and events.

The admin key is made per data directory (`admin.key`, mode 0600) or per in-memory cloud;
`admin_client.AdminClient` is the Python side of this API.
"""

import hmac

from .faults import parse_fault
from .oauth import decide_user_code
from .records import (
    LIFETIME_KEYS,
    check_lifetimes,
    create_device,
    find_device,
    lifetimes,
)
from .web import HttpError, is_number, json_object, json_response, route

ADMIN_BODY_LIMIT = 256 * 1024


def _authorized(cloud, request):
    header = request.headers.get("Authorization") or ""
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip(), cloud.admin_key):
        raise HttpError(
            401,
            "invalid_token",
            "The admin API needs the admin key (Authorization: Bearer <admin.key>).",
            [("WWW-Authenticate", 'Bearer realm="tempnode-admin"')],
        )


def _body(request):
    return json_object(request) if request.body else {}


def _device(cloud, request):
    device = find_device(cloud.store, request.route["device_id"])
    if device is None:
        raise HttpError(404, "not_found", f"There is no device {request.route['device_id']!r}.")
    return device


def _checked(action):
    """Admin input errors (ValueError) become 400 with the message."""
    try:
        return action()
    except ValueError as exc:
        raise HttpError(400, "invalid_request", str(exc)) from None


def device_info(cloud, device):
    counts = cloud.store.one(
        "SELECT COUNT(*) AS n, MAX(seq) AS last_seq FROM readings WHERE device_id = ?", device.id
    )
    return {
        "device_id": device.id,
        "profile": device.profile,
        "client_id": cloud.oauth.client_of(device).client_id,
        "org": device.row["org"],
        "app": device.row["app"],
        "lifetimes": lifetimes(cloud.store, device),
        "readings": counts["n"],
        "last_seq": counts["last_seq"],
        "dropped": device.row["dropped"],
        "created_at": device.row["created_at"],
    }


def add_device(cloud, request):
    spec = _body(request)
    created = _checked(lambda: create_device(cloud.store, cloud.clock.now(), cloud.base_url, spec))
    device = find_device(cloud.store, created["device_id"])
    cloud.oauth.event(device.id, "device_created", profile=device.profile)
    if spec.get("provision", True):
        created["credential"] = cloud.oauth.provision(device)
    return json_response(201, created)


def provision_device(cloud, request):
    return json_response(200, cloud.oauth.provision(_device(cloud, request)))


def list_devices(cloud, request):
    rows = cloud.store.all("SELECT id FROM devices ORDER BY created_at, id")
    return json_response(
        200, [device_info(cloud, find_device(cloud.store, r["id"])) for r in rows]
    )


def get_device(cloud, request):
    return json_response(200, device_info(cloud, _device(cloud, request)))


def revoke_device(cloud, request):
    device = _device(cloud, request)
    return json_response(200, {"revoked": cloud.oauth.revoke_device(device.id)})


def expire_device(cloud, request):
    device = _device(cloud, request)
    which = _body(request).get("which", "access")
    return json_response(
        200, {"expired": _checked(lambda: cloud.oauth.expire_now(device.id, which))}
    )


def set_device_lifetimes(cloud, request):
    device = _device(cloud, request)
    values = _checked(lambda: check_lifetimes(_body(request)))
    for key, value in values.items():
        cloud.store.run(f"UPDATE devices SET {key} = ? WHERE id = ?", value, device.id)
    return json_response(200, lifetimes(cloud.store, find_device(cloud.store, device.id)))


def _global_lifetimes(cloud):
    return {key: cloud.store.setting("global." + key) for key in LIFETIME_KEYS}


def get_global_lifetimes(cloud, request):
    return json_response(200, _global_lifetimes(cloud))


def set_global_lifetimes(cloud, request):
    values = _checked(lambda: check_lifetimes(_body(request)))
    for key, value in values.items():
        cloud.store.set_setting("global." + key, value)
    return json_response(200, _global_lifetimes(cloud))


def _clock_state(cloud):
    clock = cloud.clock
    return {"now": clock.now(), "offset_s": clock.offset_s, "vclock_ms": clock.vclock_ms()}


def get_clock(cloud, request):
    return json_response(200, _clock_state(cloud))


def set_clock(cloud, request):
    offset = _body(request).get("offset_s")
    if not is_number(offset):
        raise HttpError(400, "invalid_request", "offset_s must be a number of seconds.")
    cloud.clock.offset_s = float(offset)
    cloud.oauth.event(None, "clock_offset", offset_s=offset)
    return json_response(200, _clock_state(cloud))


def add_fault(cloud, request):
    fault = _checked(lambda: parse_fault(_body(request), cloud.clock.now()))
    cloud.faults.add(fault)
    return json_response(201, fault.as_dict())


def list_faults(cloud, request):
    return json_response(200, cloud.faults.active(cloud.clock.now()))


def clear_faults(cloud, request):
    return json_response(200, {"cleared": cloud.faults.clear()})


def clear_fault(cloud, request):
    try:
        fault_id = int(request.route["fault_id"])
    except ValueError:
        raise HttpError(404, "not_found", "Fault ids are numbers.") from None
    return json_response(200, {"cleared": cloud.faults.clear(fault_id)})


def decide_device_code(cloud, request):
    body = _body(request)
    user_code = body.get("user_code")
    if not isinstance(user_code, str):
        raise HttpError(400, "invalid_request", "user_code must be the code the device shows.")
    approve = body.get("approve", True) is True
    device_id = _checked(lambda: decide_user_code(cloud.oauth, user_code, approve))
    return json_response(200, {"device_id": device_id, "approved": approve})


def device_readings(cloud, request):
    device = _device(cloud, request)
    rows = cloud.store.all(
        "SELECT seq, sensor, label, t, mono_ms, boot, c, error, received_at FROM readings"
        " WHERE device_id = ? ORDER BY seq",
        device.id,
    )
    return json_response(200, [dict(r) for r in rows])


def events(cloud, request):
    query = {k: v[0] for k, v in request.query.items()}
    try:
        after = int(query.get("after", 0))
    except ValueError:
        raise HttpError(400, "invalid_request", "after must be an event id.") from None
    return json_response(200, cloud.store.events(query.get("device"), query.get("kind"), after))


def _admin(handler):
    def guarded(cloud, request):
        _authorized(cloud, request)
        return handler(cloud, request)

    guarded.__name__ = handler.__name__
    return guarded


ROUTES = [
    route(method, "/admin" + path, "", _admin(handler), ADMIN_BODY_LIMIT)
    for method, path, handler in (
        ("POST", "/devices", add_device),
        ("GET", "/devices", list_devices),
        ("GET", "/devices/{device_id}", get_device),
        ("POST", "/devices/{device_id}/credential", provision_device),
        ("POST", "/devices/{device_id}/revoke", revoke_device),
        ("POST", "/devices/{device_id}/expire", expire_device),
        ("POST", "/devices/{device_id}/lifetimes", set_device_lifetimes),
        ("GET", "/devices/{device_id}/readings", device_readings),
        ("GET", "/lifetimes", get_global_lifetimes),
        ("POST", "/lifetimes", set_global_lifetimes),
        ("GET", "/clock", get_clock),
        ("POST", "/clock", set_clock),
        ("POST", "/faults", add_fault),
        ("GET", "/faults", list_faults),
        ("DELETE", "/faults", clear_faults),
        ("DELETE", "/faults/{fault_id}", clear_fault),
        ("POST", "/device_codes", decide_device_code),
        ("GET", "/events", events),
    )
]
