"""The ``chipmunk-client`` command line."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter

from ..cli import ExitCode, after_command, base_parser, print_check, run_command
from ..logs import log_warnings
from ..providers import lexicon_adapter, provider_listing
from . import settings as client_settings
from .daemon import ClientDaemon
from .settings import ClientSettings, effective_settings, load_settings
from .state import RecordResult, StateStore
from .updater import Updater

log = logging.getLogger(__name__)

DESCRIPTION = """\
Learn this machine's public address from a chipmunk server and keep DNS
records pointing at it.

commands:
  once [--dry-run] [--force]
                 one check; update the records that need it (run by
                 chipmunk-client.timer)
  run            the daemon: check every [Daemon] interval; SIGHUP reloads,
                 SIGUSR1 reopens [Daemon] logfile, SIGTERM stops
  check          validate the config and print the effective settings,
                 secrets masked
  status         the last address, each record's last update and error,
                 and when the next forced refresh is due
  sample-config  print a commented config showing every key and default
  providers      list the DNS providers: built in, plugins, and every DNS
                 API of dns-lexicon (when installed), with their keys

exit status: 0 done (updated, or nothing to do); 69 TLS verification failed;
75 temporary failure (network, timeout, 5xx, 429): try again later;
77 credentials refused (or the request refused) by the server or a
provider: a person must act; 78 configuration error (also: a zone or record
the provider does not have)
"""


def loaded(args: argparse.Namespace) -> ClientSettings:
    settings = load_settings(args.config)
    log_warnings(settings.warnings)
    return settings


def once(args: argparse.Namespace) -> int:
    settings = loaded(args)
    updater = Updater(settings)
    try:
        result = updater.cycle(dry_run=args.dry_run, force=args.force)
    except OSError as error:
        log.error("cannot keep the state in %s: %s", settings.state_dir,
                  error.strerror or error)
        return ExitCode.CANTCREAT
    finally:
        updater.close()
    return result.exit_code


def run(args: argparse.Namespace) -> int:
    return ClientDaemon(args.config, loaded(args)).run()


def check(args: argparse.Namespace) -> int:
    settings = loaded(args)
    providers = ", ".join(settings.providers) or "none (update_dns = no, or no provider)"
    print_check(effective_settings(settings), args.config,
                f"server {settings.endpoint}, providers: {providers}")
    return ExitCode.OK


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(timestamp))


def status(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    state = StateStore(settings.state_dir).load()
    for rtype, label in (("A", "IPv4"), ("AAAA", "IPv6")):
        if rtype in state.addresses or rtype == "A":
            print(f"{label}:         {state.addresses.get(rtype, 'unknown')} (since "
                  f"{_when(state.changed_at.get(rtype))})")
    print(f"last check:   {_when(state.checked_at)}"
          + (f": {state.last_error}" if state.last_error else ""))
    due = [record.updated_at + settings.max_interval for record in state.records.values()
           if record.updated_at is not None and record.result is not RecordResult.NEEDS_ATTENTION]
    print(f"next forced refresh: {_when(min(due)) if due else 'at the next check'}")
    for key, record in sorted(state.records.items()):
        line = f"{key}: {record.result or 'never updated'}, {record.address or '-'}, " \
               f"updated {_when(record.updated_at)}"
        if record.error:
            line += f"\n    last error ({_when(record.attempted_at)}): {record.error}"
        print(line)
    return ExitCode.OK


def sample_config(args: argparse.Namespace) -> int:
    print(client_settings.render_sample(), end="")
    return ExitCode.OK


def providers(args: argparse.Namespace) -> int:
    listing = provider_listing()
    width = max(len(row.name) for row in listing) + 2
    for row in listing:
        print(f"{row.name:<{width}}{row.source:<10}{row.keys}")
    counts = Counter(row.source for row in listing)
    print(f"# {counts['built-in']} built in, {counts['plugin']} from plugins, "
          f"{counts['lexicon']} through dns-lexicon "
          f"({lexicon_adapter.version() or 'not installed'})")
    return ExitCode.OK


COMMANDS = {"once": once, "run": run, "check": check, "status": status,
            "sample-config": sample_config, "providers": providers}


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser("chipmunk-client", DESCRIPTION,
                         client_settings.DEFAULT_CONFIG_PATH)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [after_command(client_settings.DEFAULT_CONFIG_PATH)]
    once_parser = commands.add_parser("once", help="one check and update", parents=common)
    once_parser.add_argument("--dry-run", action="store_true",
                             help="say what would change; change nothing")
    once_parser.add_argument("--force", action="store_true",
                             help="update every record even when nothing changed")
    for name, text in (("run", "the daemon"), ("check", "validate the config"),
                       ("status", "show the state"),
                       ("sample-config", "print a commented config"),
                       ("providers", "list the DNS providers and their keys")):
        commands.add_parser(name, help=text, parents=common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command("chipmunk-client", args, COMMANDS[args.command])


if __name__ == "__main__":
    sys.exit(main())
