"""Typed configuration on top of stdlib configparser, shared by both programs.

A program declares each section once, as a :class:`Section` of
:class:`Option` objects, and its :class:`Schema` is the list of them.  The
same declaration validates a file, converts values to Python types, warns
about deprecated keys, rejects unknown ones, renders the commented sample
config and the effective settings of ``check``, so none of them can drift
apart.  The converters live in :mod:`chipmunk.converters`.

configparser is used with interpolation off (passwords contain ``%`` and
``$``) and case-preserving keys (the original lowercased usernames by
accident).  Every error names the file, the ``[section]``, the key and the bad
value, because that is what a person needs to fix it.
"""
from __future__ import annotations

import configparser
import enum
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .converters import to_text


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


# -- the schema --------------------------------------------------------------

class Lifecycle(enum.Enum):
    """Where a key stands: in use, on its way out, or gone."""

    CURRENT = "current"
    #: still honoured; setting it earns a warning
    DEPRECATED = "deprecated"
    #: accepted so old files load, warned about, and otherwise ignored
    OBSOLETE = "obsolete"


@dataclass(frozen=True)
class Option:
    """One key of a section: how to convert it, its default and its story.

    ``default`` is the raw text a user would write (it goes through
    ``convert`` like user input); ``None`` makes the key required.
    ``default_factory`` computes a typed default at load time instead (for
    defaults taken from the environment) and then ``default_text`` describes
    it in the sample config.  ``attribute`` is the settings field the value
    goes to, when it is not named like the key.  A ``secret`` may instead
    come from ``<key>_file = PATH`` or from the systemd credential
    ``$CREDENTIALS_DIRECTORY/<section>.<key>`` (section in lower case), and
    is never shown.  A DEPRECATED or OBSOLETE key warns with ``note``.
    ``aliases`` are older spellings of the key that existing files use: they
    are read as the key (giving both is an error).
    """

    key: str
    convert: Callable[[str], Any] = to_text
    default: str | None = None
    help: str = ""
    default_factory: Callable[[], Any] | None = None
    default_text: str | None = None
    secret: bool = False
    lifecycle: Lifecycle = Lifecycle.CURRENT
    note: str = ""
    attribute: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.key, *self.aliases)

    @property
    def field_name(self) -> str:
        return self.attribute or self.key

    @property
    def in_use(self) -> bool:
        return self.lifecycle is not Lifecycle.OBSOLETE

    @property
    def shown_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        return self.default if self.default is not None else ""


@dataclass(frozen=True)
class Section:
    """A ``[name]`` section and its options.

    A ``free_form`` section (``[Users]``) has no declared keys: the program
    validates them itself; ``example`` is shown in the sample config.
    """

    name: str
    options: tuple[Option, ...] = ()
    help: str = ""
    free_form: bool = False
    example: str = ""

    def option(self, key: str) -> Option | None:
        """The option spelled ``key`` (its name or an alias)."""
        return next((option for option in self.options if key in option.spellings), None)

    def credential_name(self, option: Option) -> str:
        return f"{self.name.lower()}.{option.key}"


@dataclass
class LoadedConfig:
    """The typed values of a loaded file plus what the loader had to say."""

    path: str
    values: dict[tuple[str, str], Any]
    #: sections whose keys are free-form (e.g. [Users]): name -> {key: raw}
    free_sections: dict[str, dict[str, str]]
    warnings: list[str] = field(default_factory=list)
    #: SHA-256 of the text loaded: tells two loads of the same file apart
    digest: str = ""

    def get(self, section: str, key: str) -> Any:
        return self.values[(section, key)]

    def section(self, name: str) -> dict[str, Any]:
        return {key: value for (sec, key), value in self.values.items() if sec == name}


class Schema:
    """The declared sections of one program."""

    def __init__(self, sections: Iterable[Section]) -> None:
        self.sections = {section.name: section for section in sections}

    @property
    def options(self) -> list[Option]:
        """Every option of every section, obsolete ones included."""
        return [option for section in self.sections.values() for option in section.options]

    def fields(self, names: Iterable[str] | None = None) -> dict[str, Option]:
        """Settings field name -> its option, over the ``names`` sections (default all)."""
        chosen = self.sections if names is None else names
        return {option.field_name: option for name in chosen
                for option in self.sections[name].options if option.in_use}

    def field_values(self, loaded: LoadedConfig, names: Iterable[str]) -> dict[str, Any]:
        """Settings field name -> converted value, over the ``names`` sections."""
        return {option.field_name: loaded.get(name, option.key)
                for name in names for option in self.sections[name].options
                if option.in_use}

    def load(self, path: str | os.PathLike) -> LoadedConfig:
        """Read, validate and convert ``path``; raise ConfigError on any fault."""
        return self.load_text(read_config_text(path), str(path))

    def read(self, path: str | os.PathLike) -> configparser.ConfigParser:
        """Parse ``path`` without converting anything yet."""
        return self.parse(read_config_text(path), str(path))

    def load_text(self, text: str, path: str = "<config>",
                  ignored_sections: Callable[[str], bool] = lambda name: False
                  ) -> LoadedConfig:
        loaded = self.convert(self.parse(text, path), path, ignored_sections)
        loaded.digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return loaded

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
                ignored_sections: Callable[[str], bool] = lambda name: False) -> LoadedConfig:
        """Validate and convert.  A section the schema does not declare is an
        error unless ``ignored_sections(name)`` says it may stay unread (the
        section of a provider the config does not use)."""
        warnings: list[str] = []
        for name in parser.sections():
            section = self.sections.get(name)
            if section is None:
                if ignored_sections(name):
                    continue
                raise ConfigError(path, "unknown section (known: "
                                  + ", ".join(f"[{s}]" for s in self.sections) + ")", name)
            if not section.free_form:
                warnings += self._check_keys(parser, path, section)
        values: dict[tuple[str, str], Any] = {}
        for section in self.sections.values():
            for option in section.options:
                if option.in_use:
                    values[(section.name, option.key)] = self._value_or_secret(
                        parser, path, section, option, warnings)
        free = {section.name: (dict(parser.items(section.name))
                               if parser.has_section(section.name) else {})
                for section in self.sections.values() if section.free_form}
        return LoadedConfig(path, values, free, warnings)

    @staticmethod
    def _check_keys(parser: configparser.ConfigParser, path: str,
                    section: Section) -> list[str]:
        """Unknown keys fail; deprecated and obsolete ones earn a warning."""
        warnings = []
        for key, raw in parser.items(section.name):
            option = section.option(key)
            if option is None and key.endswith("_file"):
                secret = section.option(key[:-5])
                option = secret if secret is not None and secret.secret else None
            if option is None:
                known = sorted(spelling for o in section.options for spelling in
                               (*o.spellings, *(f"{o.key}_file",) * o.secret))
                raise ConfigError(path, "unknown key (known: " + ", ".join(known) + ")",
                                  section.name, key, raw)
            if option.lifecycle is Lifecycle.OBSOLETE:
                warnings.append(f"{path}: [{section.name}] {key} is deprecated and "
                                f"ignored: {option.note}")
            elif option.lifecycle is Lifecycle.DEPRECATED:
                warnings.append(f"{path}: [{section.name}] {key} is deprecated "
                                f"(still honoured for now): {option.note}")
        return warnings

    def _value_or_secret(self, parser: configparser.ConfigParser, path: str,
                         section: Section, option: Option, warnings: list[str]) -> Any:
        """A value; a secret may come inline, from ``<key>_file`` or a credential."""
        if not option.secret:
            return _value(parser, path, section.name, option)
        inline = parser.get(section.name, option.key, fallback=None)
        file_name = parser.get(section.name, f"{option.key}_file", fallback=None)
        if inline is not None and not inline.strip():
            inline = None  # the sample's empty "password =": a _file or credential may fill it
        if inline is not None and file_name is not None:
            raise ConfigError(path, f"give {option.key} or {option.key}_file, not both",
                              section.name, option.key)
        if file_name is not None:
            secret = _read_secret(path, section.name, f"{option.key}_file", file_name)
            return _value(parser, path, section.name, option, secret)
        credential = _credential_path(section.credential_name(option))
        if inline is None and credential is not None:
            secret = _read_secret(path, section.name, option.key, str(credential))
            return _value(parser, path, section.name, option, secret)
        if inline and _readable_by_others(path):
            warnings.append(f"{path}: [{section.name}] {option.key}: this file holds a "
                            "secret and others can read it; chmod 0640 it, or use "
                            f"{option.key}_file or the credential "
                            f"{section.credential_name(option)}")
        return _value(parser, path, section.name, option)

    def render_sample(self, title: str) -> str:
        """The commented sample config: every key, its help and its default."""
        lines = [f"# {title}", "#",
                 "# Every key is shown commented out with its default value, except",
                 "# the ones marked REQUIRED: fill those in.", ""]
        for section in self.sections.values():
            lines.append(f"[{section.name}]")
            lines.extend(_comment(section.help))
            for option in section.options:
                if not option.in_use:
                    continue
                lines.append("")
                lines.extend(_comment(option.help))
                if option.default is None and option.default_factory is None:
                    alternative = f", or {option.key}_file" if option.secret else ""
                    lines.append(f"# REQUIRED: fill in {option.key}{alternative}.")
                    lines.append(f"{option.key} =")
                else:
                    lines.append(f"#{option.key} = {option.shown_default}".rstrip())
                if option.secret:
                    lines.append(f"#{option.key}_file =")
            if section.example:
                lines.append("")
                lines.extend(section.example.splitlines())
            lines.append("")
        return "\n".join(lines)

    def render_effective(self, path: str, value: Callable[[Section, Option], Any],
                         sections: Iterable[str],
                         free: Mapping[str, Mapping[str, str | None]] | None = None
                         ) -> str:
        """The settings in use, as a config file, every secret masked.

        ``value`` gives an option's effective value; ``free`` gives the keys of
        free-form sections with the value to show (None: a secret, masked).
        """
        lines = [f"# effective settings from {path}"]
        for name in sections:
            section = self.sections[name]
            lines += ["", f"[{name}]"]
            for option in section.options:
                if option.in_use:
                    shown = SECRET_MASK if option.secret else format_value(
                        value(section, option))
                    lines.append(f"{option.key} = {shown}".rstrip())
            lines += [f"{key} = {SECRET_MASK if shown is None else shown}"
                      for key, shown in (free or {}).get(name, {}).items()]
        return "\n".join(lines) + "\n"


SECRET_MASK = "********"


def format_value(value: Any) -> str:
    """A typed value written back the way the config file takes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ", ".join(format_value(item) for item in value)
    return str(value)


def _given(parser: configparser.ConfigParser, path: str, section: str,
           option: Option) -> tuple[str, str | None]:
    """(the spelling used, its raw value) -- the key itself when absent."""
    given = [key for key in option.spellings if parser.has_option(section, key)]
    if len(given) > 1:
        raise ConfigError(path, f"{' and '.join(given)} mean the same; give one",
                          section, given[-1])
    key = given[0] if given else option.key
    return key, parser.get(section, key, fallback=None)


def _value(parser: configparser.ConfigParser, path: str, section: str, option: Option,
           raw: str | None = None) -> Any:
    key = option.key
    if raw is None:
        key, raw = _given(parser, path, section, option)
    if raw is None:
        if option.default_factory is not None:
            return option.default_factory()
        raw = option.default
        if raw is None:
            raise ConfigError(path, "required key is missing", section, option.key)
    try:
        return option.convert(raw)
    except ValueError as error:
        shown = SECRET_MASK if option.secret else raw
        raise ConfigError(path, str(error), section, key, shown) from None


def read_config_text(path: str | os.PathLike) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(path, f"cannot read: {error}") from None


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
