"""`tempnode run`: validate, build, deploy, then follow the logs (ESPHome's `run`)."""

from .console import add_follow_arguments, follow
from .deploy import deploy
from .validate import default_port


def run(args):
    port = default_port(args)
    deploy(args.dir, port)  # validates the folder and builds first
    follow(port, args.dir, args.seconds)


def register(subparsers):
    p = subparsers.add_parser("run", help="validate, build, deploy and follow the logs")
    add_follow_arguments(p)
    p.set_defaults(func=run)
