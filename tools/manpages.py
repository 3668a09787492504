"""Man pages generated from the programs themselves, so they cannot drift.

chipmunk-server(8) and chipmunk-client(8) are the programs' ``--help``;
chipmunk-server.ini(5) and chipmunk-client.ini(5) are their config schemas,
the same declarations that validate a file and render the sample configs.
Used at package build time: ``python3 -m tools.manpages OUTPUT_DIR``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from chipmunk import __version__
from chipmunk.cli import ExitCode
from chipmunk.client import cli as client_cli
from chipmunk.client import settings as client_settings
from chipmunk.config import Lifecycle, Schema
from chipmunk.server import cli as server_cli
from chipmunk.server import settings as server_settings


def page_date() -> str:
    """The build's date: ``SOURCE_DATE_EPOCH`` (reproducible builds), else today."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = time.gmtime(int(epoch)) if epoch and epoch.isdigit() else time.gmtime()
    return time.strftime("%Y-%m-%d", when)


def escape(text: str) -> str:
    """Plain text made safe for roff: backslashes, leading dots and quotes."""
    lines = []
    for line in text.replace("\\", "\\e").replace("-", "\\-").splitlines():
        lines.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(lines)


def help_lines(text: str) -> list[str]:
    """A key's help: running text filled, lines indented by two spaces (a
    table of choices, a list of defaults) kept as written, unfilled."""
    lines: list[str] = []
    prose: list[str] = []
    table: list[str] = []
    for line in text.splitlines() + [""]:
        if line.startswith("  "):
            if prose:
                lines.append(escape(" ".join(" ".join(prose).split())))
                prose = []
            table.append(line)
            continue
        if table:
            lines += [".nf", escape("\n".join(table)), ".fi"]
            table = []
        if line:
            prose.append(line)
    if prose:
        lines.append(escape(" ".join(" ".join(prose).split())))
    return lines


def header(name: str, section: int, summary: str) -> list[str]:
    return [f'.TH "{name.upper()}" "{section}" "{page_date()}" "chipmunk {__version__}" '
            '"Chipmunk"', ".SH NAME", f"{escape(name)} \\- {escape(summary)}"]


def program_page(name: str, parser: argparse.ArgumentParser, summary: str,
                 config_page: str) -> str:
    lines = header(name, 8, summary)
    lines += [".SH SYNOPSIS", ".nf", escape(parser.format_usage().replace("usage: ", "")
                                            .strip()), ".fi",
              ".SH DESCRIPTION", ".nf", escape(parser.format_help().split("\n\n", 1)[1]
                                                 .rstrip()), ".fi",
              ".SH FILES", f"\\fI{escape(parser.get_default('config'))}\\fR",
              ".SH SEE ALSO", f"\\fB{escape(config_page)}\\fR(5), \\fBsystemctl\\fR(1), "
              "\\fBjournalctl\\fR(1)"]
    return "\n".join(lines) + "\n"


def config_page(name: str, schema: Schema, summary: str, program: str) -> str:
    lines = header(name, 5, summary)
    lines += [".SH DESCRIPTION",
              escape(f"The configuration of {program}: an INI file of [sections] with "
                     "key = value lines. Values are taken literally (no interpolation); "
                     "keys keep their case. Every key is optional unless it has no "
                     "default. An unknown section or key is an error that names the "
                     "file, the section, the key and the value."),
              ".PP", escape(f"{program} sample-config prints a commented file with every "
                            "key and its default.")]
    for section in schema.sections.values():
        lines += [".SH " + escape(f"[{section.name}]")]
        for text in (section.help, section.example):
            if text:
                lines += [".PP", escape(" ".join(text.split()))]
        for option in section.options:
            lines += [".TP", f"\\fB{escape(option.key)}\\fR"]
            if option.lifecycle is Lifecycle.OBSOLETE:
                lines.append(escape(f"Deprecated, accepted and ignored: {option.note}."))
                continue
            default = option.shown_default
            lines += help_lines(option.help)
            lines.append(escape(f"Default: {default}." if default else
                                "Required." if option.default is None and
                                option.default_factory is None else "Default: empty."))
            if option.secret:
                lines.append(escape(f"Instead of the value itself, {option.key}_file = PATH "
                                    "names a file holding it, or the systemd credential "
                                    f"{section.credential_name(option)} provides it."))
    lines += [".SH SEE ALSO", f"\\fB{escape(program)}\\fR(8)"]
    return "\n".join(lines) + "\n"


def pages() -> dict[str, str]:
    return {
        "chipmunk-server.8": program_page(
            "chipmunk-server", server_cli.build_parser(),
            "tell HTTP clients their public IP address", "chipmunk-server.ini"),
        "chipmunk-client.8": program_page(
            "chipmunk-client", client_cli.build_parser(),
            "keep DNS records pointing at this machine's public address",
            "chipmunk-client.ini"),
        "chipmunk-server.ini.5": config_page(
            "chipmunk-server.ini", server_settings.SCHEMA,
            "chipmunk-server configuration file", "chipmunk-server"),
        "chipmunk-client.ini.5": config_page(
            "chipmunk-client.ini", client_settings.build_schema(),
            "chipmunk-client configuration file", "chipmunk-client"),
    }


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python3 -m tools.manpages OUTPUT_DIR", file=sys.stderr)
        return ExitCode.USAGE
    directory = Path(args[0])
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in pages().items():
        (directory / name).write_text(text, encoding="utf-8")
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
