"""`tempnode run`: validate, build, deploy, then follow the logs (ESPHome's `run`)."""

from .console import follow
from .deploy import deploy
from .device import add_dir_argument, add_port_argument
from .validate import default_port


def run(args):
    port = default_port(args)
    deploy(args.dir, port)  # validates the folder and builds first
    follow(port, args.dir, args.seconds)


def register(subparsers):
    p = subparsers.add_parser("run", help="validate, build, deploy and follow the logs")
    add_dir_argument(p)
    add_port_argument(p)
    p.add_argument("--seconds", type=float, help="stop following after this long")
    p.set_defaults(func=run)
