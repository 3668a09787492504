"""The ``chipmunk-client`` command line."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from dataclasses import replace

from ..cli import (
    ExitCode,
    after_command,
    base_parser,
    exit_code_for,
    print_check,
    run_command,
    worst_exit_code,
)
from ..logs import log_warnings
from ..providers import lexicon_adapter, provider_listing
from . import settings as client_settings
from .chipmunkserver import server_client
from .daemon import ClientDaemon
from .discovery import Discovery
from .settings import ClientSettings, effective_settings, load_settings
from .sources.spec import RECORD_TYPES
from .state import RecordResult, StateStore
from .updater import Updater

log = logging.getLogger(__name__)

DESCRIPTION = """\
Learn this machine's public address -- from a chipmunk server, or from
public echo services, DNS, the router (UPnP, NAT-PMP), an interface or a
command that must agree -- and keep DNS records pointing at it.

commands:
  once [--dry-run] [--force]
                 one check; update the records that need it (run by
                 chipmunk-client.timer)
  run            the daemon: check every [Daemon] interval; SIGHUP reloads,
                 SIGUSR1 reopens [Daemon] logfile, SIGTERM stops
  discover       ask every address source and print what each said, how
                 long it took and whether it was believed, and the result;
                 changes nothing (exit 0 when every family was agreed)
  check          validate the config and print the effective settings,
                 secrets masked, and the last check's diagnosis
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


def sources_summary(settings: ClientSettings) -> str:
    """Where each family's address comes from, in one line."""
    parts = []
    for family, label in ((4, "IPv4"), (6, "IPv6")):
        specs = settings.sources_for(family)
        if specs is None:
            source = settings.ipv6_source if family == 6 else "server"
            where = (f"the chipmunk server {settings.endpoint}" if source == "server"
                     else "nowhere (ipv6_source = none)" if source == "none" else source)
        else:
            where = (f"{settings.needed(family)} of {len(specs)} must agree: "
                     + ", ".join(spec.text for spec in specs))
            if family == 6 and settings.ipv6_defaulted:
                where += " (only on a host with a global IPv6 address)"
        parts.append(f"{label} from {where}")
    return "; ".join(parts)


def diagnoses(settings: ClientSettings) -> list[str]:
    """The last check's carrier-grade NAT diagnoses, from the state."""
    try:
        state = StateStore(settings.state_dir).load()
    except OSError:
        return []
    return [text for _, text in sorted(state.diagnoses.items())]


def check(args: argparse.Namespace) -> int:
    settings = loaded(args)
    providers = ", ".join(settings.providers) or "none (update_dns = no, or no provider)"
    summary = f"{sources_summary(settings)}; providers: {providers}"
    for text in diagnoses(settings):
        summary += f"\nlast check: {text}"
    print_check(effective_settings(settings), args.config, summary)
    return ExitCode.OK


def discover_command(args: argparse.Namespace) -> int:
    # /set would save the address on the server: discover only asks
    settings = replace(loaded(args), method="get")
    web = server_client(settings)
    discovery = Discovery(settings, web)
    try:
        found = discovery.run(journal=False)
    finally:
        discovery.close()
        web.close()
    asked = set()
    for verdict in found.verdicts:
        asked.add(RECORD_TYPES[verdict.family])
        print(f"{verdict.family_name}: {verdict.needed} of {len(verdict.answers)} "
              f"must agree ({verdict.seconds:.3f} s)")
        width = max(len(answer.source) for answer in verdict.answers) + 2
        for answer in verdict.answers:
            seconds = f"{answer.seconds:.3f} s" if answer.seconds is not None else "-"
            print(f"  {answer.source:<{width}}{answer.said or '-':<26}{seconds:>10}  "
                  f"{answer.verdict(verdict.address)}")
        print(f"  result: {verdict.outcome}")
        if verdict.cgnat:
            print(f"  {verdict.cgnat}")
    for rtype, address in sorted(found.addresses.items()):
        if rtype not in asked:
            print(f"{'IPv6' if rtype == 'AAAA' else 'IPv4'} (as configured, without "
                  f"agreement): {address}")
    for error in found.errors:
        if not any(error.args == (v.problem,) for v in found.verdicts):
            print(f"error: {error}")
    return worst_exit_code(exit_code_for(error) for error in found.errors)


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
    for text in (text for _, text in sorted(state.diagnoses.items())):
        print(f"diagnosis:    {text}")
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


COMMANDS = {"once": once, "run": run, "check": check, "discover": discover_command,
            "status": status,
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
                       ("discover", "ask the address sources, change nothing"),
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
