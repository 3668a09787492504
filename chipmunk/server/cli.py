"""The ``chipmunk-server`` command line."""
from __future__ import annotations

import argparse
import getpass
import sys

from . import settings as server_settings
from ..cli import base_parser, print_warnings, run_command
from .passwords import hash_password
from .server import EXIT_UNAVAILABLE, Server, load_checked, log_warnings

DESCRIPTION = """\
Tell HTTP clients their public IP address, and remember it for them.

commands:
  serve          serve in the foreground (the default); SIGHUP reloads the
                 config, SIGTERM stops after requests in progress
  check          validate the config file; exit 0 if good, 78 if not
  hash-password  read a password (prompted on a terminal, else one line
                 from stdin) and print a hash to paste into [Users]
  sample-config  print a commented config showing every key and default

API (HTTP Basic auth on every request):
  GET /get/ip        Your IP:  ADDR
  GET /get/ip.json   {"Client_IP": "ADDR"}
  GET|POST /set      save ADDR to <client_update_dir>/<user>.cm, answer JSON
  GET /ip            ADDR

exit status: 0 ok, 69 cannot listen, 70 internal error, 78 bad config
"""


def serve(args: argparse.Namespace) -> int:
    settings = load_checked(args.config)
    log_warnings(settings)
    try:
        return Server(args.config, settings).run()
    except OSError as error:
        print(f"chipmunk-server: {error.strerror or error}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def check(args: argparse.Namespace) -> int:
    settings = load_checked(args.config)
    print_warnings(settings.warnings)
    listen = ", ".join(str(address) for address in settings.listen)
    print(f"{args.config}: OK: {len(settings.users)} users, listen {listen}, "
          f"state in {settings.state_dir}{', TLS' if settings.tls else ''}")
    return 0


def hash_password_command(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("chipmunk-server: the passwords differ", file=sys.stderr)
            return 65
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("chipmunk-server: empty password", file=sys.stderr)
        return 65
    print(hash_password(password))
    return 0


def sample_config(args: argparse.Namespace) -> int:
    print(server_settings.render_sample(), end="")
    return 0


COMMANDS = {"serve": serve, "check": check, "hash-password": hash_password_command,
            "sample-config": sample_config}


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser("chipmunk-server", DESCRIPTION,
                         server_settings.DEFAULT_CONFIG_PATH)
    parser.add_argument("command", nargs="?", default="serve", choices=COMMANDS,
                        help="what to do (default: serve)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command("chipmunk-server", args, COMMANDS[args.command])


if __name__ == "__main__":
    sys.exit(main())
