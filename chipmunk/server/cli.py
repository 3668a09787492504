"""The ``chipmunk-server`` command line."""
from __future__ import annotations

import argparse
import getpass
import logging
import sys
import time

from ..cli import ExitCode, base_parser, print_check, run_command
from ..logs import log_warnings
from . import settings as server_settings
from .checks import load_checked
from .daemon import serve as serve_forever
from .keys import new_key
from .passwords import hash_password
from .publisher import check_publishers

log = logging.getLogger(__name__)

DESCRIPTION = """\
Tell HTTP clients their public IP address, remember it for them, and take
dyndns2 updates from routers, ddclient and inadyn, publishing them to DNS.

commands:
  serve          serve in the foreground (the default); SIGHUP reloads the
                 config, SIGTERM stops after requests in progress
  check          validate the config file and print the effective settings,
                 secrets masked; exit 0 if good, 78 if not
  hash-password  read a password (prompted on a terminal, else one line
                 from stdin) and print a hash to paste into [Users]
  sample-config  print a commented config showing every key and default
  new-key HOSTNAME [--update] [--acme]
                 make a key for one hostname of [Hostnames]: print the
                 section to append to the config, and (as comments, shown
                 once) the user and key a router or an ACME client stores.
                 --update: dyndns2 updates of HOSTNAME (the default);
                 --acme: its ACME challenge through the acme-dns API

API (HTTP Basic auth on every request):
  GET /get/ip        Your IP:  ADDR
  GET /get/ip.json   {"Client_IP": "ADDR"}
  GET|POST /set      save ADDR to <client_update_dir>/<user>.cm, answer JSON
  GET /ip            ADDR
  GET /nic/update?hostname=NAMES&myip=ADDRS
                     dyndns2 (also /v3/update, /update): good, nochg, nohost,
                     notfqdn, numhost, dnserr or 911 per name; [Hostnames]
                     says whose names, [Publish] where they go
  GET /              your status page (HTML for a browser, text for curl)
  POST /update, POST /acme/update
                     the acme-dns API (X-Api-User, X-Api-Key of a key issued
                     with --acme; {"subdomain": KEY_ID, "txt": VALUE}): sets
                     _acme-challenge.HOSTNAME TXT
  GET /health        200, without credentials

metrics: [Server] metrics_listen serves Prometheus' /metrics apart, without
a password.

exit status: 0 ok, 65 an empty password to hash, 69 cannot listen, 70 internal
error, 78 bad config
"""


def serve(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    settings = load_checked(args.config, publishers=False)
    if settings.workers > 1:  # what each worker will build; a single one builds it itself
        check_publishers(settings)
    load_seconds = time.perf_counter() - started
    log_warnings(settings.warnings)
    try:
        return serve_forever(args.config, settings, load_seconds)
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


def new_key_command(args: argparse.Namespace) -> int:
    if not args.hostname:
        print("chipmunk-server: new-key needs a HOSTNAME", file=sys.stderr)
        return ExitCode.USAGE
    try:
        _, _, fragment = new_key(args.hostname, args.update, args.acme)
    except ValueError as error:
        print(f"chipmunk-server: {error}", file=sys.stderr)
        return ExitCode.DATAERR
    print(fragment, end="")
    return ExitCode.OK


def sample_config(args: argparse.Namespace) -> int:
    print(server_settings.render_sample(), end="")
    return ExitCode.OK


COMMANDS = {"serve": serve, "check": check, "hash-password": hash_password_command,
            "sample-config": sample_config, "new-key": new_key_command}


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser("chipmunk-server", DESCRIPTION,
                         server_settings.DEFAULT_CONFIG_PATH)
    parser.add_argument("command", nargs="?", default="serve", choices=COMMANDS,
                        help="what to do (default: serve)")
    parser.add_argument("hostname", nargs="?", help="new-key: the key's hostname")
    parser.add_argument("--update", action="store_true",
                        help="new-key: the key may update the hostname's A/AAAA by dyndns2")
    parser.add_argument("--acme", action="store_true",
                        help="new-key: the key may set the hostname's ACME challenge")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command("chipmunk-server", args, COMMANDS[args.command])


if __name__ == "__main__":
    sys.exit(main())
