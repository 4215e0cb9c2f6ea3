"""`tempnode demo`: the firmware on the simulated board against the local dev cloud."""

from .errors import UserError


def run(args):
    raise UserError(
        "the demo is not built yet: it will run firmware/ on the simulated board against "
        "`tempnode cloud` (4 sensors, short token lifetime, an outage and a revocation)"
    )


def register(subparsers):
    p = subparsers.add_parser("demo", help="run the firmware on the simulated board (make demo)")
    p.set_defaults(func=run)
