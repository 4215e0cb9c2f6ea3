"""The `tempnode` command: one subcommand per module, each with a `register(subparsers)`."""

import argparse
import sys

from . import (
    boards,
    build,
    cloud,
    console,
    deploy,
    flash,
    init_wizard,
    practice_board,
    provision,
    release,
    run_cmd,
    set_time,
    sim,
    status,
    validate,
)
from .errors import UserError

COMMAND_MODULES = (
    boards,
    build,
    init_wizard,
    validate,
    flash,
    deploy,
    provision,
    console,
    status,
    set_time,
    run_cmd,
    cloud,
    sim,
    practice_board,
    release,
)


def make_parser():
    parser = argparse.ArgumentParser(
        prog="tempnode", description="Build, run and look after tempnode temperature loggers."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv=None):
    args = make_parser().parse_args(argv)
    try:
        result = args.func(args)
    except UserError as exc:
        print(f"tempnode: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tempnode: interrupted", file=sys.stderr)
        return 130
    return result or 0


if __name__ == "__main__":
    sys.exit(main())
