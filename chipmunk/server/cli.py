"""The ``chipmunk-server`` command line."""
from __future__ import annotations

import argparse
import getpass
import logging
import sys

from ..cli import ExitCode, base_parser, print_check, run_command
from ..logs import log_warnings
from . import settings as server_settings
from .daemon import serve as serve_forever
from .passwords import hash_password
from .worker import load_checked

log = logging.getLogger(__name__)

DESCRIPTION = """\
Tell HTTP clients their public IP address, and remember it for them.

commands:
  serve          serve in the foreground (the default); SIGHUP reloads the
                 config, SIGTERM stops after requests in progress
  check          validate the config file and print the effective settings,
                 secrets masked; exit 0 if good, 78 if not
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
    log_warnings(settings.warnings)
    try:
        return serve_forever(args.config, settings)
    except OSError as error:
        log.error("%s", error.strerror or error)
        return ExitCode.UNAVAILABLE


def check(args: argparse.Namespace) -> int:
    settings = load_checked(args.config)
    log_warnings(settings.warnings)
    listen = ", ".join(str(address) for address in settings.listen)
    print_check(server_settings.effective_settings(settings), args.config,
                f"{len(settings.users)} users, listen {listen}, state in "
                f"{settings.state_dir}{', TLS' if settings.tls else ''}")
    return ExitCode.OK


def hash_password_command(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("chipmunk-server: the passwords differ", file=sys.stderr)
            return ExitCode.DATAERR
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("chipmunk-server: empty password", file=sys.stderr)
        return ExitCode.DATAERR
    print(hash_password(password))
    return ExitCode.OK


def sample_config(args: argparse.Namespace) -> int:
    print(server_settings.render_sample(), end="")
    return ExitCode.OK


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
