"""What both programs' command lines share: common options and exit codes.

Expected failures end in one clear line and a sysexits code; a traceback is
printed only with ``--debug``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from . import __version__, systemd
from .config import EXIT_CONFIG, ConfigError

EXIT_SOFTWARE = 70


def base_parser(prog: str, description: str, default_config: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="PATH", default=default_config,
                        help=f"configuration file (default: {default_config})")
    parser.add_argument("--debug", action="store_true",
                        help="log debug messages and show tracebacks")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def run_command(identifier: str, args: argparse.Namespace,
                command: Callable[[argparse.Namespace], int]) -> int:
    """Set up logging, run ``command``, turn expected failures into exit codes."""
    systemd.setup_logging(identifier, debug=args.debug)
    log = logging.getLogger(f"chipmunk.{identifier}")
    try:
        return command(args)
    except ConfigError as error:
        log.error("%s", error)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # unexpected: one line unless --debug
        if args.debug:
            log.exception("unexpected error")
        else:
            log.error("unexpected error: %s (run with --debug for details)", error)
        return EXIT_SOFTWARE


def print_warnings(warnings: tuple[str, ...] | list[str]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
