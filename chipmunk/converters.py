"""Converters from a config value's text to a typed value, shared by every schema.

Each converter takes the raw string and raises ValueError with a message a
person can act on; the loader adds the file, section, key and value.  The
combinators :func:`list_of`, :func:`optional` and :func:`url` are the only
place where lists, empty-means-unset and URLs are parsed, so every key of
that kind reads and fails the same way.
"""
from __future__ import annotations

import configparser
import functools
import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
Converter = Callable[[str], T]


def to_bool(text: str) -> bool:
    """yes/no, true/false, on/off, 1/0 as configparser understands them."""
    lowered = text.strip().lower()
    if lowered in configparser.ConfigParser.BOOLEAN_STATES:
        return configparser.ConfigParser.BOOLEAN_STATES[lowered]
    raise ValueError("expected yes or no")


def _in_range(number: float, low: float, high: float | None, what: str,
              unit: str = "") -> float:
    """``number`` if ``low <= number <= high`` (and not NaN), else ValueError."""
    if number != number or number < low or (high is not None and number > high):
        limit = (f"at least {_plain(low)}{unit}" if high is None
                 else f"from {_plain(low)}{unit} to {_plain(high)}{unit}")
        raise ValueError(f"expected {what} {limit}")
    return number


def _plain(number: float) -> str:
    """2419200, not 2.4192e+06; 0.1 stays 0.1."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def bounded_int(low: int, high: int | None = None) -> Converter[int]:
    """An integer converter that enforces ``low <= n <= high``."""
    def integer(text: str) -> int:
        try:
            number = int(text.strip())
        except ValueError:
            raise ValueError("expected a whole number") from None
        _in_range(number, low, high, "a number")
        return number
    return integer


def bounded_float(low: float, high: float | None = None) -> Converter[float]:
    """A float converter that enforces ``low <= x <= high``."""
    def number(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError("expected a number") from None
        return _in_range(value, low, high, "a number")
    return number


DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def bounded_duration(low: float, high: float | None = None) -> Converter[float]:
    """Seconds, written as ``300``, ``90s``, ``5m``, ``12h``, ``7d`` or ``1w``."""
    def duration(text: str) -> float:
        value = text.strip().lower()
        unit = value[-1:] if value[-1:].isalpha() else ""
        try:
            seconds = float(value[:len(value) - len(unit)]) * DURATION_UNITS[unit]
        except (KeyError, ValueError):
            raise ValueError("expected a duration such as 300, 5m, 12h or 7d") from None
        return _in_range(seconds, low, high, "a duration", "s")
    return duration


def to_text(text: str) -> str:
    return text.strip()


def to_nonempty_text(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


def to_path(text: str) -> Path:
    if not text.strip():
        raise ValueError("expected a path")
    return Path(text.strip())


def optional(convert: Converter[T]) -> Converter[T | None]:
    """Empty means unset (None); anything else goes through ``convert``."""
    def optional_value(text: str) -> T | None:
        return convert(text) if text.strip() else None
    return optional_value


def list_of(item: Converter[T], what: str, allow_empty: bool = False) -> Converter[tuple[T, ...]]:
    """Items separated by commas or spaces, each through ``item``, repeats dropped.

    ``what`` names the items in the error for an empty list ("host names").
    """
    def items(text: str) -> tuple[T, ...]:
        converted = tuple(dict.fromkeys(item(word) for word in text.replace(",", " ").split()))
        if not converted and not allow_empty:
            raise ValueError(f"expected one or more {what}")
        return converted
    return items


def url(schemes: tuple[str, ...] = ("https", "http"), default_scheme: str | None = None,
        example: str = "https://example.org") -> Converter[str]:
    """A URL with one of ``schemes`` and a host; no trailing slash.

    With ``default_scheme``, a value without ``scheme://`` gets it (the
    original client's ``endpoint = host:port`` meant http).
    """
    def checked_url(text: str) -> str:
        value = text.strip().rstrip("/")
        if default_scheme and "://" not in value:
            value = f"{default_scheme}://{value}"
        try:
            parts = urlsplit(value)
            port_ok = parts.port is None or parts.port > 0  # .port raises if malformed
        except ValueError:
            port_ok = False
        if not port_ok or parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"expected a URL ({' or '.join(schemes)}) such as {example}")
        return value
    return checked_url


def ip_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An address or CIDR network."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or CIDR network") from None


to_networks = list_of(ip_network, "addresses or networks", allow_empty=True)
to_optional_path = optional(to_path)


MAX_HOSTNAME = 253
LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


@functools.lru_cache(maxsize=4096)
def normalize_hostname(text: str) -> str | None:
    """``Home.Example.org.`` -> ``home.example.org``; None when it is not a
    fully qualified host name (letters, digits, - and _; two labels at least)."""
    name = text.strip().rstrip(".").lower()
    labels = name.split(".")
    if len(name) > MAX_HOSTNAME or len(labels) < 2 or labels[-1].isdigit():
        return None
    return name if all(LABEL.fullmatch(label) for label in labels) else None


def to_hostname(text: str) -> str:
    name = normalize_hostname(text)
    if name is None:
        raise ValueError(f"{text.strip()!r} is not a fully qualified host name "
                         "(e.g. home.example.org)")
    return name


to_hostnames = list_of(to_hostname, "host names, e.g. home.example.org, nas.example.org")
