"""`tempnode cloud`: run the local dev cloud, and drive a running one (devices, faults, clock).

tempnode cloud start                         # in the background: https://localhost:8443
tempnode cloud status / tempnode cloud stop
tempnode cloud serve                         # in the foreground, its request log on stderr
tempnode cloud device add logger-01 --profile oauth2 --access-ttl 60 --out cred.json
tempnode cloud fault add token drop_reply --count 1
tempnode cloud approve BCDF-GHJK

Every subcommand works on one data folder (`--data-dir`, by default `paths.cloud_dir()`,
the same for `tempnode sim` and the practice board); one cloud serves from a folder at a time.
"""

import argparse
import errno
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from ..errors import UserError
from ..paths import cloud_dir
from . import running
from .dialects import DIALECTS, ROTATIONS
from .faults import ENDPOINTS, KINDS
from .running import DEFAULT_PORT

VCLOCK_FILE = "vclock.bin"  # the virtual-clock file the simulator's boards share


def _stop_on_sigterm():
    """`tempnode cloud stop` sends SIGTERM: leave through `finally`, as Ctrl-C does."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def serve(args):
    from .app import start  # the server's imports are only needed here

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(message)s",
    )
    vclock = args.vclock or os.environ.get("TEMPNODE_VCLOCK") or args.data_dir / VCLOCK_FILE

    def listen(port):
        return start(
            args.data_dir,
            port,
            args.memory,
            args.plain_http,
            vclock,
            bind=args.bind,
            names=args.name,
        )

    try:
        try:
            serving = listen(args.port)
        except OSError as exc:
            if not (args.any_port_if_taken and exc.errno == errno.EADDRINUSE):
                raise
            serving = listen(0)
    except OSError as exc:
        raise UserError(
            f"cannot serve on {args.bind} port {args.port} ({exc.strerror}): "
            "pick another --port (or --bind an address of this computer)"
        ) from None
    _stop_on_sigterm()
    info = serving.info()
    print(json.dumps(info), flush=True)  # the first line: for programs that start the cloud
    print(
        f"tempnode cloud: serving {info['url']} on {info['bind']} "
        f"(dashboard {info['dashboard']})\n"
        f"  CA for devices (DER): {info['ca_der']}\n  CA (PEM): {info['ca_pem']}\n"
        f"  admin key: {info['admin_key_file']}",
        file=sys.stderr,
        flush=True,
    )
    try:
        threading.Event().wait()
    finally:
        serving.stop()


def start_background(args):
    from . import process

    info = running.running_info(args.data_dir)
    if info is None:
        where = {"bind": args.bind, "names": args.name}
        info = process.spawn(args.data_dir, args.port, detach=True, **where).info
        print(f"dev cloud started: {info['url']} (pid {info['pid']}, data {args.data_dir})")
    else:
        missing = [n for n in args.name if n not in (info.get("names") or ())]
        if missing or (args.bind != "127.0.0.1" and args.bind != info.get("bind")):
            raise UserError(
                f"a dev cloud already serves from {args.data_dir} on {info.get('bind')} for "
                f"{', '.join(info.get('names') or ())}: `tempnode cloud stop` first to change "
                "--bind or --name"
            )
        print(f"dev cloud already running: {info['url']} (pid {info['pid']})")
    print(f"  dashboard {info['dashboard']}\n  stop it with `tempnode cloud stop`")


def stop_serving(args):
    from . import process

    info = process.stop(args.data_dir)
    if info is None:
        print(f"no dev cloud is serving from {args.data_dir}: nothing to stop")
    else:
        print(f"stopped the dev cloud at {info['url']} (pid {info['pid']})")


STATUS_ROWS = (
    ("url", "url"),
    ("dashboard", "dashboard"),
    ("pid", "pid"),
    ("listening on", "bind"),
    ("certificate for", "names"),
    ("CA for devices", "ca_der"),
    ("CA for browsers", "ca_pem"),
    ("data folder", "data_dir"),
)


def status(args):
    info = running.running_info(args.data_dir)
    if info is None:
        print(
            f"no dev cloud is serving from {args.data_dir}: start one with `tempnode cloud start`"
        )
        return 1
    for label, key in STATUS_ROWS:
        value = info.get(key)
        value = ", ".join(value) if isinstance(value, list) else value
        print(f"{label:<16} {'-' if value is None else value}")
    return 0


def _lifetime_options(args):
    names = {
        "access_ttl": "access_ttl_s",
        "refresh_ttl": "refresh_ttl_s",
        "grace": "grace_s",
        "rotation": "rotation",
    }
    return {
        key: getattr(args, name) for name, key in names.items() if getattr(args, name) is not None
    }


def device_add(admin, args):
    created = admin.create_device(
        args.device_id,
        args.profile,
        **_lifetime_options(args),
        **{k: v for k, v in (("org", args.org), ("app", args.app)) if v},
    )
    # Where the device reaches this cloud, so `tempnode init --from-cloud` needs nothing else.
    created["cloud"] = {"base_url": admin.base_url, "ca_der": admin.info.get("ca_der")}
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(created, f, indent=1)
    print(
        f"device {created['device_id']} ({created['profile']}, client {created['client_id']}):"
        f" secrets and credential written to {args.out}"
    )


def fault_add(admin, args):
    options = {k: v for k, v in vars(args).items() if k in FAULT_OPTIONS and v is not None}
    return admin.add_fault(args.endpoint, args.kind, **options)


def clock(admin, args):
    return admin.clock() if args.offset is None else admin.set_clock_offset(args.offset)


# (words, help, argument groups, action(admin, args)): the admin subcommands as one table.
ADMIN_COMMANDS = (
    (
        ("device", "add"),
        "register a device and write its secrets and refresh credential",
        ("device_id", "profile", "lifetimes", "place", "out"),
        device_add,
    ),
    (("device", "list"), "list devices", (), lambda a, args: a.devices()),
    (
        ("device", "show"),
        "one device: lifetimes, readings held, dropped count",
        ("device_id",),
        lambda a, args: a.device(args.device_id),
    ),
    (
        ("device", "revoke"),
        "revoke every token the device holds",
        ("device_id",),
        lambda a, args: {"revoked": a.revoke(args.device_id)},
    ),
    (
        ("device", "expire"),
        "make the device's tokens expire now",
        ("device_id", "which"),
        lambda a, args: {"expired": a.expire(args.device_id, args.which)},
    ),
    (
        ("device", "lifetimes"),
        "set the device's token lifetimes and rotation",
        ("device_id", "lifetimes"),
        lambda a, args: a.set_lifetimes(args.device_id, **_lifetime_options(args)),
    ),
    (
        ("lifetimes",),
        "set token lifetimes and rotation for every device",
        ("lifetimes",),
        lambda a, args: a.set_lifetimes(None, **_lifetime_options(args)),
    ),
    (("clock",), "show the cloud's clock, or set its offset", ("offset",), clock),
    (("fault", "add"), "inject a fault", ("endpoint", "kind", "fault"), fault_add),
    (("fault", "list"), "list active faults", (), lambda a, args: a.faults()),
    (
        ("fault", "clear"),
        "remove one fault or all",
        ("fault_id",),
        lambda a, args: {"cleared": a.clear_faults(args.fault_id)},
    ),
    (
        ("approve",),
        "approve a device-flow login",
        ("user_code",),
        lambda a, args: a.approve(args.user_code),
    ),
    (
        ("deny",),
        "deny a device-flow login",
        ("user_code",),
        lambda a, args: a.deny(args.user_code),
    ),
    (
        ("readings",),
        "the readings stored for a device",
        ("device_id",),
        lambda a, args: a.readings(args.device_id),
    ),
    (
        ("events",),
        "the event log (tokens issued, refreshed, rejected, revoked...)",
        ("device_opt", "kind_opt"),
        lambda a, args: a.events(args.device, args.kind_filter),
    ),
)

FAULT_OPTIONS = {
    "count": (int, "the next N requests"),
    "for_s": (float, "for this many seconds from now (cloud time)"),
    "status": (int, "HTTP status for kind=status (default 503)"),
    "retry_after_s": (int, "Retry-After seconds for kind=rate_limit (default 30)"),
    "retry_after_form": (str, "seconds or date"),
    "delay_ms": (int, "delay for kind=latency (default 1000)"),
    "size_bytes": (int, "body size for kind=huge_body (default 10 MB)"),
}


def _add_arguments(p, groups):
    for group in groups:
        ARGUMENT_GROUPS[group](p)


ARGUMENT_GROUPS = {
    "device_id": lambda p: p.add_argument("device_id"),
    "device_opt": lambda p: p.add_argument("--device", help="only this device"),
    "kind_opt": lambda p: p.add_argument("--kind", dest="kind_filter", help="only this kind"),
    "profile": lambda p: p.add_argument("--profile", default="oauth2", choices=list(DIALECTS)),
    "place": lambda p: (
        p.add_argument("--org", help="usergrid organization"),
        p.add_argument("--app", help="usergrid application"),
    ),
    "out": lambda p: p.add_argument(
        "--out", required=True, help="file for the device's secrets and credential (0600)"
    ),
    "which": lambda p: p.add_argument(
        "--which", default="access", choices=("access", "refresh", "all")
    ),
    "lifetimes": lambda p: (
        p.add_argument("--access-ttl", type=float, help="access-token lifetime, s (0: never)"),
        p.add_argument("--refresh-ttl", type=float, help="refresh-token lifetime, s (0: never)"),
        p.add_argument("--rotation", choices=ROTATIONS, help="refresh-token rotation"),
        p.add_argument("--grace", type=float, help="seconds a rotated refresh token replays"),
    ),
    "offset": lambda p: p.add_argument(
        "--offset", type=float, help="set the cloud clock's offset, s (else show it)"
    ),
    "endpoint": lambda p: p.add_argument("endpoint", choices=ENDPOINTS),
    "kind": lambda p: p.add_argument(
        "kind", choices=list(KINDS), help="; ".join(f"{k}: {v.what}" for k, v in KINDS.items())
    ),
    "fault": lambda p: [
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=what)
        for name, (kind, what) in FAULT_OPTIONS.items()
    ],
    "fault_id": lambda p: p.add_argument(
        "fault_id", nargs="?", type=int, help="one fault (default: all)"
    ),
    "user_code": lambda p: p.add_argument("user_code", help="the code the device shows"),
}


def _run_admin(action):
    def run(args):
        from .admin_client import AdminClient, AdminError  # `requests` only when needed

        admin = AdminClient.from_data_dir(args.data_dir)
        try:
            result = action(admin, args)
        except AdminError as exc:
            raise UserError(str(exc.body.get("error_description") or exc)) from None
        if result is not None:
            print(json.dumps(result, indent=1))

    return run


def _add_listen_arguments(p, port_help):
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=port_help)
    p.add_argument(
        "--bind",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1; 0.0.0.0 for boards on the LAN)",
    )
    p.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="HOST",
        help="a name or address boards use to reach this computer (repeatable): the "
        "certificate is made for it and the URL uses the first",
    )


def add_data_dir_argument(parser):
    default = cloud_dir()
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default,
        help=f"certificates, admin key, database (default {default})",
    )


def register(subparsers):
    p = subparsers.add_parser("cloud", help="the local dev cloud (OAuth2 server, ingest, faults)")
    commands = p.add_subparsers(dest="cloud_command", required=True, metavar="COMMAND")
    data_dir = argparse.ArgumentParser(add_help=False)
    add_data_dir_argument(data_dir)

    s = commands.add_parser("serve", parents=[data_dir], help="run the dev cloud (foreground)")
    _add_listen_arguments(s, f"default {DEFAULT_PORT}; 0 picks a free port")
    s.add_argument(
        "--vclock",
        help="virtual-clock file shared with the simulated board "
        f"(default: $TEMPNODE_VCLOCK, else DATA_DIR/{VCLOCK_FILE})",
    )
    s.add_argument("--memory", action="store_true", help="keep the database in memory")
    s.add_argument("--plain-http", action="store_true", help="serve http:// without TLS")
    s.add_argument("--quiet", action="store_true", help="no request log")
    s.add_argument(
        "--any-port-if-taken",
        action="store_true",
        help="listen on any free port when --port is taken (what `start` asks for)",
    )
    s.set_defaults(func=serve)
    s = commands.add_parser(
        "start", parents=[data_dir], help="start the dev cloud in the background"
    )
    _add_listen_arguments(s, f"default {DEFAULT_PORT}, or a free port when it is taken")
    s.set_defaults(func=start_background, port=None)
    s = commands.add_parser("stop", parents=[data_dir], help="stop the dev cloud")
    s.set_defaults(func=stop_serving)
    s = commands.add_parser("status", parents=[data_dir], help="is it running, and where")
    s.set_defaults(func=status)

    groups = {}
    for path, what, arguments, action in ADMIN_COMMANDS:
        parent = commands
        for word in path[:-1]:
            if word not in groups:
                group = parent.add_parser(word, help=f"{word} commands")
                groups[word] = group.add_subparsers(
                    dest=f"cloud_{word}", required=True, metavar="COMMAND"
                )
            parent = groups[word]
        sub = parent.add_parser(path[-1], parents=[data_dir], help=what)
        _add_arguments(sub, arguments)
        sub.set_defaults(func=_run_admin(action))
