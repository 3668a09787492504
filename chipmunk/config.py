"""Typed configuration on top of stdlib configparser, shared by both programs.

A program declares its options once, as a :class:`Schema` of
:class:`Option` objects.  The same declaration validates a file, converts
values to Python types, warns about deprecated keys, rejects unknown ones and
renders the commented sample config, so the three cannot drift apart.

configparser is used with interpolation off (passwords contain ``%`` and
``$``) and case-preserving keys (the original lowercased usernames by
accident).  Every error names the file, the ``[section]``, the key and the bad
value, because that is what a person needs to fix it.
"""
from __future__ import annotations

import configparser
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

#: sysexits.h EX_CONFIG: systemd units use it in RestartPreventExitStatus=.
EXIT_CONFIG = 78


class ConfigError(Exception):
    """A configuration problem, phrased for the person who has to fix it."""

    def __init__(self, path: str | os.PathLike | None, message: str,
                 section: str | None = None, key: str | None = None,
                 value: str | None = None) -> None:
        where = [str(path) if path else "<config>"]
        if section is not None:
            where.append(f"[{section}]")
        if key is not None:
            where.append(key if value is None else f"{key} = {value!r}")
        super().__init__(f"{': '.join([' '.join(where), message])}")
        self.path, self.section, self.key, self.value = path, section, key, value


# -- converters: each takes the raw string and raises ValueError on bad input --

def to_bool(text: str) -> bool:
    """yes/no, true/false, on/off, 1/0 as configparser understands them."""
    lowered = text.strip().lower()
    if lowered in configparser.ConfigParser.BOOLEAN_STATES:
        return configparser.ConfigParser.BOOLEAN_STATES[lowered]
    raise ValueError("expected yes or no")


def bounded_int(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer converter that enforces ``low <= n <= high``."""
    def convert(text: str) -> int:
        try:
            number = int(text.strip())
        except ValueError:
            raise ValueError("expected a whole number") from None
        if number < low or (high is not None and number > high):
            limit = f"at least {low}" if high is None else f"from {low} to {high}"
            raise ValueError(f"expected a number {limit}")
        return number
    convert.__name__ = "integer"
    return convert


def _in_range(number: float, low: float, high: float | None, what: str,
              unit: str = "") -> float:
    """``number`` if ``low <= number <= high`` (and not NaN), else ValueError."""
    if number != number or number < low or (high is not None and number > high):
        limit = (f"at least {low:g}{unit}" if high is None
                 else f"from {low:g}{unit} to {high:g}{unit}")
        raise ValueError(f"expected {what} {limit}")
    return number


def bounded_float(low: float, high: float | None = None) -> Callable[[str], float]:
    """A float converter that enforces ``low <= x <= high``."""
    def convert(text: str) -> float:
        try:
            number = float(text.strip())
        except ValueError:
            raise ValueError("expected a number") from None
        return _in_range(number, low, high, "a number")
    return convert


def to_text(text: str) -> str:
    return text.strip()


def to_nonempty_text(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


def to_optional_path(text: str) -> Path | None:
    return Path(text.strip()) if text.strip() else None


def to_path(text: str) -> Path:
    if not text.strip():
        raise ValueError("expected a path")
    return Path(text.strip())


def to_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """A comma- or space-separated list of addresses or CIDR networks."""
    networks = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def bounded_duration(low: float, high: float | None = None) -> Callable[[str], float]:
    """Seconds, written as ``300``, ``90s``, ``5m``, ``12h``, ``7d`` or ``1w``."""
    def convert(text: str) -> float:
        value = text.strip().lower()
        unit = value[-1:] if value[-1:].isalpha() else ""
        try:
            seconds = float(value[:len(value) - len(unit)]) * DURATION_UNITS[unit]
        except (KeyError, ValueError):
            raise ValueError("expected a duration such as 300, 5m, 12h or 7d") from None
        return _in_range(seconds, low, high, "a duration", "s")
    return convert


# -- the schema --------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    """One key of one section: how to convert it, its default and its story.

    ``default`` is the raw text a user would write (it goes through
    ``convert`` like user input); ``None`` makes the key required.
    ``default_factory`` computes a typed default at load time instead (for
    defaults taken from the environment) and then ``default_text`` describes
    it in the sample config.  ``deprecated`` keys are accepted, warned about
    with that text, and otherwise ignored.  A ``secret`` may instead come
    from ``<key>_file = PATH`` or from the systemd credential
    ``$CREDENTIALS_DIRECTORY/<section>.<key>`` (section in lower case), and is
    never shown in messages.
    """

    section: str
    key: str
    convert: Callable[[str], Any] = to_text
    default: str | None = None
    help: str = ""
    default_factory: Callable[[], Any] | None = None
    default_text: str | None = None
    secret: bool = False
    deprecated: str | None = None

    @property
    def credential_name(self) -> str:
        return f"{self.section.lower()}.{self.key}"

    @property
    def shown_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        return self.default if self.default is not None else ""


@dataclass
class LoadedConfig:
    """The typed values of a loaded file plus what the loader had to say."""

    path: str
    values: dict[tuple[str, str], Any]
    #: sections whose keys are free-form (e.g. [Users]): name -> {key: raw}
    free_sections: dict[str, dict[str, str]]
    warnings: list[str] = field(default_factory=list)

    def get(self, section: str, key: str) -> Any:
        return self.values[(section, key)]

    def section(self, name: str) -> dict[str, Any]:
        return {key: value for (sec, key), value in self.values.items() if sec == name}


class Schema:
    """The declared options of one program, plus its free-form sections.

    ``free_sections`` map a section name to a help text; their keys are not
    declared (``[Users]`` maps any username to a password) and the program
    validates them itself.
    """

    def __init__(self, options: Iterable[Option],
                 free_sections: Mapping[str, str] | None = None,
                 section_help: Mapping[str, str] | None = None) -> None:
        self.options = list(options)
        self.free_sections = dict(free_sections or {})
        self.section_help = dict(section_help or {})
        self._by_key = {(o.section, o.key): o for o in self.options}

    @property
    def sections(self) -> list[str]:
        names: list[str] = []
        for option in self.options:
            if option.section not in names:
                names.append(option.section)
        names.extend(s for s in self.free_sections if s not in names)
        return names

    def load(self, path: str | os.PathLike) -> LoadedConfig:
        """Read, validate and convert ``path``; raise ConfigError on any fault."""
        return self.convert(self.read(path), str(path))

    def read(self, path: str | os.PathLike) -> configparser.ConfigParser:
        """Parse ``path`` without converting anything yet."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(path, "file not found") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(path, f"cannot read: {error}") from None
        return self.parse(text, str(path))

    def load_text(self, text: str, path: str = "<config>") -> LoadedConfig:
        return self.convert(self.parse(text, path), path)

    @staticmethod
    def parse(text: str, path: str = "<config>") -> configparser.ConfigParser:
        parser = new_parser()
        try:
            parser.read_string(text, source=path)
        except configparser.DuplicateOptionError as error:
            raise ConfigError(path, f"key given twice (line {error.lineno})",
                              error.section, error.option) from None
        except configparser.DuplicateSectionError as error:
            raise ConfigError(path, f"section given twice (line {error.lineno})",
                              error.section) from None
        except configparser.MissingSectionHeaderError as error:
            raise ConfigError(path, f"line {error.lineno}: a key before any "
                              "[section] header") from None
        except configparser.ParsingError as error:
            lines = ", ".join(str(lineno) for lineno, _ in error.errors)
            raise ConfigError(path, f"cannot parse line {lines} "
                              "(expected 'key = value')") from None
        return parser

    def convert(self, parser: configparser.ConfigParser, path: str,
                unused_sections: Iterable[str] = ()) -> LoadedConfig:
        """Validate and convert; ``unused_sections`` are checked for unknown
        keys but their values are neither converted nor required."""
        unused = set(unused_sections)
        known_sections = set(self.sections)
        warnings: list[str] = []
        for section in parser.sections():
            if section not in known_sections:
                raise ConfigError(path, "unknown section (known: "
                                  + ", ".join(f"[{s}]" for s in self.sections) + ")",
                                  section)
            if section in self.free_sections:
                continue
            for key, raw in parser.items(section):
                option = self._by_key.get((section, key))
                if option is None and key.endswith("_file"):
                    secret = self._by_key.get((section, key[:-5]))
                    option = secret if secret is not None and secret.secret else None
                if option is None:
                    known = sorted(k for s, k in self._by_key if s == section)
                    raise ConfigError(path, "unknown key (known: " + ", ".join(known)
                                      + ")", section, key, raw)
                if option.deprecated:
                    warnings.append(f"{path}: [{section}] {key} is deprecated and "
                                    f"ignored: {option.deprecated}")
        values: dict[tuple[str, str], Any] = {}
        for option in self.options:
            if option.deprecated or option.section in unused:
                continue
            if option.secret:
                values[(option.section, option.key)] = self._secret(parser, path, option,
                                                                    warnings)
            else:
                values[(option.section, option.key)] = self._value(parser, path, option)
        free = {name: dict(parser.items(name)) if parser.has_section(name) else {}
                for name in self.free_sections}
        return LoadedConfig(path, values, free, warnings)

    def _secret(self, parser: configparser.ConfigParser, path: str, option: Option,
                warnings: list[str]) -> Any:
        """A secret: inline, from ``<key>_file``, or from a systemd credential."""
        inline = parser.get(option.section, option.key, fallback=None)
        file_name = parser.get(option.section, f"{option.key}_file", fallback=None)
        if inline is not None and file_name is not None:
            raise ConfigError(path, f"give {option.key} or {option.key}_file, not both",
                              option.section, option.key)
        if file_name is not None:
            secret = _read_secret(path, option.section, f"{option.key}_file", file_name)
            return self._value(parser, path, option, secret)
        credential = _credential_path(option.credential_name)
        if inline is None and credential is not None:
            secret = _read_secret(path, option.section, option.key, str(credential))
            return self._value(parser, path, option, secret)
        if inline and _readable_by_others(path):
            warnings.append(f"{path}: [{option.section}] {option.key}: this file holds a "
                            "secret and others can read it; chmod 0640 it, or use "
                            f"{option.key}_file or the credential {option.credential_name}")
        return self._value(parser, path, option)

    @staticmethod
    def _value(parser: configparser.ConfigParser, path: str, option: Option,
               raw: str | None = None) -> Any:
        if raw is None:
            raw = parser.get(option.section, option.key, fallback=None)
        if raw is None:
            if option.default_factory is not None:
                return option.default_factory()
            raw = option.default
            if raw is None:
                raise ConfigError(path, "required key is missing",
                                  option.section, option.key)
        try:
            return option.convert(raw)
        except ValueError as error:
            shown = "****" if option.secret else raw
            raise ConfigError(path, str(error), option.section, option.key,
                              shown) from None

    def render_sample(self, title: str, extra: Mapping[str, str] | None = None) -> str:
        """The commented sample config: every key, its help and its default.

        ``extra`` adds text at the end of a section (for free-form sections,
        an example entry).
        """
        lines = [f"# {title}", "#",
                 "# Every key is shown commented out with its default value.", ""]
        for section in self.sections:
            lines.append(f"[{section}]")
            if section in self.section_help:
                lines.extend(_comment(self.section_help[section]))
            if section in self.free_sections:
                lines.extend(_comment(self.free_sections[section]))
            for option in self.options:
                if option.section != section or option.deprecated:
                    continue
                lines.append("")
                lines.extend(_comment(option.help))
                lines.append(f"#{option.key} = {option.shown_default}".rstrip())
                if option.secret:
                    lines.append(f"#{option.key}_file =")
            if extra and section in extra:
                lines.append("")
                lines.extend(extra[section].splitlines())
            lines.append("")
        return "\n".join(lines)


def _read_secret(path: str, section: str, key: str, secret_path: str) -> str:
    try:
        return Path(secret_path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(path, f"cannot read the secret: {error}", section, key,
                          secret_path) from None


def _credential_path(name: str) -> Path | None:
    """``$CREDENTIALS_DIRECTORY/name`` when systemd passed that credential."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if directory and (Path(directory) / name).is_file():
        return Path(directory) / name
    return None


def _readable_by_others(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & 0o004)
    except OSError:
        return False


def new_parser() -> configparser.ConfigParser:
    """configparser as Chipmunk uses it: no interpolation, keys keep their case."""
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00none")
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    return parser


def _comment(text: str) -> list[str]:
    return [f"# {line}".rstrip() for line in text.strip().splitlines()] if text else []
