"""chipmunk-client's configuration: the schema and the typed settings.

The original client INI (``[Global]``, ``[ChipmunkAPIServer]``,
``[Daemon]``, ``[dDNS]``, ``[linode]``) loads unchanged; its obsolete keys
(``daemonize``, ``pidfile``, ``logfile``) are accepted with a warning.  Each
provider declares its own section's keys; a provider's section is only
required and converted when ``[dDNS] provider`` lists it.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import (ConfigError, Option, Schema, bounded_duration, to_bool,
                     to_nonempty_text, to_optional_path)
from ..providers import available, provider_class

DEFAULT_CONFIG_PATH = "/etc/chipmunk/client.ini"
DEFAULT_STATE_DIR = "/var/lib/chipmunk-client"
SECRET_MASK = "********"
MIN_SENSIBLE_INTERVAL = 30.0


def default_state_dir() -> Path:
    return Path(os.environ.get("STATE_DIRECTORY", "").split(":")[0] or DEFAULT_STATE_DIR)


def to_method(text: str) -> str:
    method = text.strip().lower()
    if method not in ("get", "set"):
        raise ValueError("expected get or set")
    return method


def to_server_endpoint(text: str) -> str:
    """A URL; scheme-less means http, as in the original."""
    url = text.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected a URL such as https://chipmunk.example.org:8080")
    return url


def to_optional_server_endpoint(text: str) -> str | None:
    return to_server_endpoint(text) if text.strip() else None


def to_ipv6_source(text: str) -> str:
    """server, none, or interface:NAME."""
    value = text.strip()
    if value in ("server", "none"):
        return value
    if value.startswith("interface:") and value[len("interface:"):].strip():
        return "interface:" + value[len("interface:"):].strip()
    raise ValueError("expected server, none or interface:NAME (e.g. interface:eth0)")


def to_record_types(text: str) -> tuple[str, ...]:
    types = tuple(dict.fromkeys(t.upper() for t in text.replace(",", " ").split()))
    if not types or any(t not in ("A", "AAAA") for t in types):
        raise ValueError("expected A, AAAA, or A, AAAA")
    return types


def to_tls_verify(text: str) -> bool | str:
    """yes, no, or the path of a CA bundle in PEM format."""
    value = text.strip()
    if value.lower() in ("yes", "true", "on", "1", "no", "false", "off", "0"):
        return to_bool(value)
    if not Path(value).is_file():
        raise ValueError("expected yes, no, or the path of a CA file (PEM) that exists")
    return value


def to_provider_names(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(text.replace(",", " ").split()))
    known = available()
    for name in names:
        if name not in known:
            raise ValueError(f"unknown provider {name!r} (available: "
                             f"{', '.join(sorted(known))})")
    return names


BASE_OPTIONS = [
    Option("Global", "update_dns", to_bool, "yes", help=(
        "yes: update the providers in [dDNS] when the address changes;\n"
        "no: only discover (and, with method = set, report) the address.")),
    Option("Global", "daemonize", deprecated=(
        "systemd decides: enable chipmunk-client.timer for periodic runs or "
        "chipmunk-clientd.service for the daemon")),
    Option("Global", "state_dir", to_optional_path, help=(
        "Where the last address and each record's last update are kept.\n"
        "Default: $STATE_DIRECTORY when systemd sets it, else this."),
        default_factory=default_state_dir, default_text=DEFAULT_STATE_DIR),
    Option("Global", "ipv6_source", to_ipv6_source, "server", help=(
        "Where this machine's IPv6 address comes from: server (the answer of\n"
        "endpoint6, or of endpoint when it is reached over IPv6), interface:NAME\n"
        "(the interface's stable global address, never a temporary one), or none.")),
    Option("Global", "max_interval", bounded_duration(60), "7d", help=(
        "Update every record at least this often even when nothing changed\n"
        "(s, m, h, d or w suffix).")),
    Option("ChipmunkAPIServer", "username", to_nonempty_text, None, help=(
        "Your user on the chipmunk server.")),
    Option("ChipmunkAPIServer", "password", to_nonempty_text, None, secret=True, help=(
        "Your password on the chipmunk server.")),
    Option("ChipmunkAPIServer", "method", to_method, "get", help=(
        "get: ask for the address (/get/ip.json); set: also have the server\n"
        "save it (/set).")),
    Option("ChipmunkAPIServer", "endpoint", to_server_endpoint, None, help=(
        "The chipmunk server's URL, e.g. https://chipmunk.example.org:8080\n"
        "(without a scheme: http).")),
    Option("ChipmunkAPIServer", "endpoint6", to_optional_server_endpoint, "", help=(
        "Optional: the same server reached over IPv6 only (an IPv6-only name or\n"
        "a bracketed address), to learn the IPv6 address in the same cycle.")),
    Option("ChipmunkAPIServer", "tls_verify", to_tls_verify, "yes", help=(
        "Verify the server's certificate: yes, no (not recommended), or the\n"
        "path of the CA certificate (PEM) that signed it.")),
    Option("ChipmunkAPIServer", "timeout", bounded_duration(1, 300), "10", help=(
        "Seconds to wait for any answer, from the server or a provider.")),
    Option("Daemon", "interval", bounded_duration(0.1, 86400), "300", help=(
        "Seconds between checks in the daemon (chipmunk-client run).  The timer\n"
        "unit sets the pace of one-shot runs.")),
    Option("Daemon", "pidfile", deprecated="systemd tracks the process; no PID file "
           "is written"),
    Option("Daemon", "logfile", to_optional_path, "", help=(
        "Deprecated: the journal keeps the logs.  Still honoured: an extra log\n"
        "file, reopened on SIGUSR1 after it was moved aside.")),
    Option("dDNS", "provider", to_provider_names, "", help=(
        "DNS providers to update, comma-separated; each has a section of its\n"
        f"own below.  Built in: {', '.join(sorted(available()))}.")),
]


def build_schema() -> Schema:
    """The base options plus every registered provider's section."""
    options = list(BASE_OPTIONS)
    for name in available():
        options.extend(provider_class(name).options)
        options.append(Option(name, "record_types", to_record_types, "A", help=(
            "Which records to keep: A (IPv4), AAAA (IPv6), or A, AAAA.")))
    return Schema(options, section_help={
        "Global": "Settings for every use.",
        "ChipmunkAPIServer": "The chipmunk server that tells this machine its address.",
        "Daemon": "Only for the daemon (chipmunk-client run).",
        "dDNS": "Which DNS providers to update."})


@dataclass(frozen=True)
class ClientSettings:
    path: str
    update_dns: bool
    state_dir: Path
    ipv6_source: str
    max_interval: float
    username: str
    password: str
    method: str
    endpoint: str
    endpoint6: str | None
    tls_verify: bool | str
    timeout: float
    interval: float
    logfile: Path | None
    providers: tuple[str, ...]
    #: provider name -> its converted section
    provider_values: dict[str, dict[str, Any]]
    warnings: tuple[str, ...] = field(default=())

    def fingerprint(self, provider: str) -> str:
        """Changes when the provider's section does: a record that needs a
        person's attention is retried once its configuration changed."""
        text = repr(sorted((k, str(v)) for k, v in self.provider_values[provider].items()))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_settings(path: str | os.PathLike) -> ClientSettings:
    """Load and validate the client config; raise ConfigError on any fault."""
    path = str(path)
    schema = build_schema()
    parser = schema.read(path)
    listed = _listed_providers(parser, path)
    unused = [name for name in available() if name not in listed]
    loaded = schema.convert(parser, path, unused_sections=unused)
    warnings = list(loaded.warnings)
    server, daemon = loaded.section("ChipmunkAPIServer"), loaded.section("Daemon")
    for key in ("endpoint", "endpoint6"):
        url = server[key] or ""
        if url.startswith("http://") and not _is_loopback(urlsplit(url).hostname or ""):
            warnings.append(f"{path}: [ChipmunkAPIServer] {key} = {url!r}: the password "
                            "travels unencrypted over plain http; use https")
    if server["tls_verify"] is False:
        warnings.append(f"{path}: [ChipmunkAPIServer] tls_verify = no: the server's "
                        "certificate is not checked; anyone on the path can read the "
                        "password.  Prefer tls_verify = /path/to/ca.pem")
    if daemon["interval"] < MIN_SENSIBLE_INTERVAL:
        warnings.append(f"{path}: [Daemon] interval = {daemon['interval']:g}: checking more "
                        f"often than every {MIN_SENSIBLE_INTERVAL:g}s only loads the server")
    if daemon["logfile"] is not None:
        warnings.append(f"{path}: [Daemon] logfile is deprecated (the journal keeps the "
                        "logs: journalctl -u chipmunk-client); still written for now")
    update_dns = loaded.get("Global", "update_dns")
    return ClientSettings(
        path=path, update_dns=update_dns,
        state_dir=loaded.get("Global", "state_dir") or default_state_dir(),
        ipv6_source=loaded.get("Global", "ipv6_source"),
        max_interval=loaded.get("Global", "max_interval"), **server,
        interval=daemon["interval"], logfile=daemon["logfile"],
        providers=listed, provider_values={name: loaded.section(name) for name in listed},
        warnings=tuple(warnings))


def _listed_providers(parser, path: str) -> tuple[str, ...]:
    """The providers in use: [dDNS] provider, when [Global] update_dns is yes."""
    try:
        if not to_bool(parser.get("Global", "update_dns", fallback="yes")):
            return ()
    except ValueError:
        return ()  # convert() reports the bad value with its file, section and key
    raw = parser.get("dDNS", "provider", fallback="")
    try:
        return to_provider_names(raw)
    except ValueError as error:
        raise ConfigError(path, str(error), "dDNS", "provider", raw) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def describe(settings: ClientSettings) -> str:
    """The effective settings, secrets masked, for ``chipmunk-client check``."""
    schema = build_schema()
    secret_keys = {(o.section, o.key) for o in schema.options if o.secret}
    lines = [f"# effective settings from {settings.path}",
             "[Global]", f"update_dns = {'yes' if settings.update_dns else 'no'}",
             f"state_dir = {settings.state_dir}",
             f"ipv6_source = {settings.ipv6_source}",
             f"max_interval = {settings.max_interval:g}", "",
             "[ChipmunkAPIServer]", f"username = {settings.username}",
             f"password = {SECRET_MASK}", f"method = {settings.method}",
             f"endpoint = {settings.endpoint}",
             f"endpoint6 = {settings.endpoint6 or ''}",
             f"tls_verify = {_yes_no(settings.tls_verify)}",
             f"timeout = {settings.timeout:g}", "",
             "[Daemon]", f"interval = {settings.interval:g}",
             f"logfile = {settings.logfile or ''}", "",
             "[dDNS]", f"provider = {', '.join(settings.providers)}"]
    for name in settings.providers:
        lines += ["", f"[{name}]"]
        for key, value in settings.provider_values[name].items():
            shown = SECRET_MASK if (name, key) in secret_keys else _yes_no(value)
            if isinstance(shown, tuple):
                shown = " ".join(shown)
            lines.append(f"{key} = {shown}")
    return "\n".join(lines) + "\n"


def _yes_no(value: Any) -> Any:
    return ("yes" if value else "no") if isinstance(value, bool) else value


def render_sample() -> str:
    return build_schema().render_sample(f"chipmunk-client configuration "
                                        f"({DEFAULT_CONFIG_PATH})")
