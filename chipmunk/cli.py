"""What both programs' command lines share: common options and exit codes.

Expected failures end in one clear line and a sysexits code; a traceback is
printed only with ``--debug``.  :class:`ExitCode` is the one table of codes
both programs end with (the systemd units name some of them in
``SuccessExitStatus=`` and ``RestartPreventExitStatus=``).
"""
from __future__ import annotations

import argparse
import enum
import logging
import os
from collections.abc import Callable, Iterable

from . import __version__
from .config import ConfigError
from .errors import (
    CredentialsRefused,
    Misconfigured,
    PermanentError,
    RefusedByService,
    TemporaryError,
    UntrustedPeer,
    UpdateError,
)
from .logs import setup_logging

log = logging.getLogger(__name__)


class ExitCode(enum.IntEnum):
    """sysexits.h codes, as ``os.EX_*`` names them."""

    OK = os.EX_OK
    USAGE = os.EX_USAGE                # 64: wrong command-line arguments
    DATAERR = os.EX_DATAERR            # 65: bad input (an empty password to hash)
    UNAVAILABLE = os.EX_UNAVAILABLE    # 69: cannot listen; a peer unusable as configured (TLS)
    SOFTWARE = os.EX_SOFTWARE          # 70: a bug
    CANTCREAT = os.EX_CANTCREAT        # 73: cannot write the state
    TEMPFAIL = os.EX_TEMPFAIL          # 75: temporary failure: try again later
    NOPERM = os.EX_NOPERM              # 77: credentials refused: a person must act
    CONFIG = os.EX_CONFIG              # 78: the configuration is wrong
    INTERRUPTED = 128 + 2              # SIGINT, as a shell reports it


#: Several outcomes, one exit code: what needs a person wins over what a retry fixes.
SEVERITY = (ExitCode.CONFIG, ExitCode.NOPERM, ExitCode.UNAVAILABLE, ExitCode.SOFTWARE,
            ExitCode.CANTCREAT, ExitCode.TEMPFAIL)


def worst_exit_code(codes: Iterable[int]) -> ExitCode:
    present = set(codes)
    return next((code for code in SEVERITY if code in present), ExitCode.OK)


#: the kind of failure -> how a run ends; the most specific class wins
FAILURE_EXIT_CODES: dict[type[Exception], ExitCode] = {
    TemporaryError: ExitCode.TEMPFAIL,
    Misconfigured: ExitCode.CONFIG,
    CredentialsRefused: ExitCode.NOPERM,
    RefusedByService: ExitCode.NOPERM,
    UntrustedPeer: ExitCode.UNAVAILABLE,
    PermanentError: ExitCode.NOPERM,
}


def exit_code_for(error: Exception) -> ExitCode:
    """The exit code a failure ends a run with (70 for anything unforeseen)."""
    for cls in type(error).__mro__:
        if cls in FAILURE_EXIT_CODES:
            return FAILURE_EXIT_CODES[cls]
    return ExitCode.SOFTWARE


def _common_options(parser: argparse.ArgumentParser, default_config: str,
                    default: object = None) -> None:
    parser.add_argument("--config", metavar="PATH", default=default or default_config,
                        help=f"configuration file (default: {default_config})")
    parser.add_argument("--debug", action="store_true", default=default or False,
                        help="log debug messages and show tracebacks")


def base_parser(prog: str, description: str, default_config: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _common_options(parser, default_config)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def after_command(default_config: str) -> argparse.ArgumentParser:
    """The common options again, for a command's own parser (``parents=``), so
    ``prog check --config X`` works as ``prog --config X check`` does; given
    only after the command, they leave the values before it alone."""
    parser = argparse.ArgumentParser(add_help=False)
    _common_options(parser, default_config, default=argparse.SUPPRESS)
    return parser


def print_check(effective_settings: str, path: str, summary: str) -> None:
    """What both ``check`` commands print: the settings in use, secrets masked,
    then one line that says the file is good.  It stays a valid config file."""
    print(effective_settings, end="")
    print(f"# {path}: OK: {summary}")


def run_command(identifier: str, args: argparse.Namespace,
                command: Callable[[argparse.Namespace], int]) -> int:
    """Set up logging, run ``command``, turn expected failures into exit codes."""
    setup_logging(identifier, debug=args.debug)
    try:
        return command(args)
    except ConfigError as error:
        log.error("%s", error)
        return ExitCode.CONFIG
    except UpdateError as error:  # e.g. a library the chosen provider needs is missing
        log.error("%s", error)
        return exit_code_for(error)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except Exception as error:  # unexpected: one line unless --debug
        if args.debug:
            log.exception("unexpected error")
        else:
            log.error("unexpected error: %s (run with --debug for details)", error)
        return ExitCode.SOFTWARE
