"""chipmunk-client's configuration: the schema and the typed settings.

The original client INI (``[Global]``, ``[ChipmunkAPIServer]``,
``[Daemon]``, ``[dDNS]``, ``[linode]``) loads unchanged; its obsolete keys
(``daemonize``, ``pidfile``, ``logfile``) are accepted with a warning.  Each
provider declares its own section's keys.  Only the providers ``[dDNS]
provider`` lists are imported, and only their sections are read; the section
of another known provider may stay in the file, unread.
"""
from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import ConfigError, Lifecycle, Option, Schema, Section
from ..converters import (
    bounded_duration,
    bounded_int,
    list_of,
    optional,
    to_bool,
    to_nonempty_text,
    to_optional_path,
    url,
)
from ..providers import BUILTIN, is_known, provider_schema, to_provider_names
from ..systemd import state_directory
from .sources.spec import (
    DEFAULT_SOURCES,
    FAMILY_KEYS,
    SourceSpec,
    default_agreement,
    default_sources,
    missing_library,
    to_sources,
)

DEFAULT_CONFIG_PATH = "/etc/chipmunk/client.ini"
DEFAULT_STATE_DIR = "/var/lib/chipmunk-client"
MIN_SENSIBLE_INTERVAL = 30.0


def default_state_dir() -> Path:
    return state_directory(DEFAULT_STATE_DIR)


def to_method(text: str) -> str:
    method = text.strip().lower()
    if method not in ("get", "set"):
        raise ValueError("expected get or set")
    return method


#: scheme-less means http, as in the original
to_server_endpoint = url(default_scheme="http", example="https://chipmunk.example.org:8080")


def to_ipv6_source(text: str) -> str:
    """server, none, or interface:NAME."""
    value = text.strip()
    if value in ("server", "none"):
        return value
    if value.startswith("interface:") and value[len("interface:"):].strip():
        return "interface:" + value[len("interface:"):].strip()
    raise ValueError("expected server, none or interface:NAME (e.g. interface:eth0)")


def to_tls_verify(text: str) -> bool | str:
    """yes, no, or the path of a CA bundle in PEM format."""
    value = text.strip()
    if value.lower() in ("yes", "true", "on", "1", "no", "false", "off", "0"):
        return to_bool(value)
    if not Path(value).is_file():
        raise ValueError("expected yes, no, or the path of a CA file (PEM) that exists")
    return value


BASE_SECTIONS = (
    Section("Global", (
        Option("update_dns", to_bool, "yes", help=(
            "yes: update the providers in [dDNS] when the address changes;\n"
            "no: only discover (and, with method = set, report) the address.")),
        Option("daemonize", lifecycle=Lifecycle.OBSOLETE, note=(
            "systemd decides: enable chipmunk-client.timer for periodic runs or "
            "chipmunk-clientd.service for the daemon")),
        Option("state_dir", to_optional_path, help=(
            "Where the last address and each record's last update are kept.\n"
            "Under systemd (StateDirectory=) the default is $STATE_DIRECTORY."),
            default_factory=default_state_dir, default_text=DEFAULT_STATE_DIR),
        Option("ipv6_source", to_ipv6_source, "server", help=(
            "Where this machine's IPv6 address comes from: server (the answer of\n"
            "endpoint6, or of endpoint when it is reached over IPv6), interface:NAME\n"
            "(the interface's stable global address, never a temporary one), or none.")),
        Option("max_interval", bounded_duration(60), "7d", help=(
            "Update every record at least this often even when nothing changed\n"
            "(s, m, h, d or w suffix).")),
        Option("metrics_file", to_optional_path, "", help=(
            "After every check, write Prometheus metrics here for node_exporter's\n"
            "textfile collector, e.g. /var/lib/prometheus/node-exporter/chipmunk.prom\n"
            "(world-readable).  Empty: none.  Needs python3-prometheus-client.")),
    ), help="Settings for every use."),
    Section("ChipmunkAPIServer", (
        Option("username", optional(to_nonempty_text), "", help=(
            "Your user on the chipmunk server (needed when it tells the address).")),
        Option("password", optional(to_nonempty_text), "", secret=True, help=(
            "Your password on the chipmunk server.")),
        Option("method", to_method, "get", help=(
            "get: ask for the address (/get/ip.json); set: also have the server\n"
            "save it (/set).")),
        Option("endpoint", optional(to_server_endpoint), "", help=(
            "The chipmunk server's URL, e.g. https://chipmunk.example.org:8080\n"
            "(without a scheme: http).  Without it, [Discovery] decides (by default:\n"
            "public services that must agree).")),
        Option("endpoint6", optional(to_server_endpoint), "", help=(
            "Optional: the same server reached over IPv6 only (an IPv6-only name or\n"
            "a bracketed address), to learn the IPv6 address in the same cycle.")),
        Option("tls_verify", to_tls_verify, "yes", help=(
            "Verify the server's certificate: yes, no (not recommended), or the\n"
            "path of the CA certificate (PEM) that signed it.")),
        Option("timeout", bounded_duration(1, 300), "10", help=(
            "Seconds to wait for any answer, from the server or a provider.")),
    ), help="The chipmunk server that tells this machine its address."),
    Section("Discovery", (
        Option("ipv4", optional(to_sources(4)), "", attribute="ipv4_sources", help=(
            "Where the public IPv4 address comes from, comma-separated, asked in\n"
            "parallel (the cheapest first, stopping once enough agree):\n"
            "  chipmunk               the server of [ChipmunkAPIServer]\n"
            "  https://host/path      an echo service: the body is the address,\n"
            "                         JSON with \"ip\", or ip= lines (asked over IPv4)\n"
            "  dns:NAME@SERVER[:PORT][/TYPE[/CLASS]]  a DNS whoami, e.g.\n"
            "                         dns:myip.opendns.com@208.67.222.222\n"
            "  upnp, natpmp           the router's WAN address\n"
            "  interface:NAME         the interface's address (ppp0)\n"
            "  command:/path          the first line the program prints\n"
            "Empty: the chipmunk server when endpoint is set, else these public\n"
            "services (ipify; icanhazip, run by Cloudflare; OpenDNS, run by Cisco;\n"
            "Google's name servers):\n"
            + ",\n".join(f"  {source}" for source in DEFAULT_SOURCES[4]))),
        Option("ipv6", optional(to_sources(6)), "", attribute="ipv6_sources", help=(
            "The same for IPv6 (not upnp or natpmp; an IPv6 DNS server in brackets).\n"
            "Empty: [Global] ipv6_source decides when endpoint is set, else (on a\n"
            "host with a global IPv6 address) these public services:\n"
            + ",\n".join(f"  {source}" for source in DEFAULT_SOURCES[6]))),
        Option("agree", optional(bounded_int(1, 10)), "", help=(
            "How many sources must name the same address before it is believed,\n"
            "per family.  Empty: 2 when a family lists three or more sources, else 1.\n"
            "When they disagree nothing is published and the next check tries again.")),
        Option("timeout", bounded_duration(0.5, 300), "10", attribute="discovery_timeout",
               help="Seconds the whole discovery (every source) may take."),
        Option("accept_non_global", to_bool, "no", help=(
            "yes: believe private, shared (100.64.0.0/10) and other non-global\n"
            "answers too (LAN set-ups, tests).  The chipmunk server's answer is\n"
            "always believed, as it always was.")),
    ), help=(
        "Where the public address comes from when it is not (only) the chipmunk\n"
        "server: public echo services, DNS, the router, an interface or a command,\n"
        "believed only when enough of them agree.")),
    Section("Daemon", (
        Option("interval", bounded_duration(0.1, 86400), "300", help=(
            "Seconds between checks in the daemon (chipmunk-client run).  The timer\n"
            "unit sets the pace of one-shot runs.")),
        Option("watch_network", to_bool, "yes", help=(
            "yes: also check as soon as the kernel reports a relevant change (a\n"
            "global address added or removed, a new default route, a link coming\n"
            "up); the interval stays as the safety net.  Temporary and tentative\n"
            "IPv6 addresses are ignored.")),
        Option("interfaces", list_of(to_nonempty_text, "interface names", allow_empty=True),
               "", help=(
            "Only these interfaces' events count, comma-separated; empty: all.")),
        Option("debounce", bounded_duration(0, 60), "1", help=(
            "Seconds to let a burst of network events pass before the one check.")),
        Option("pidfile", lifecycle=Lifecycle.OBSOLETE, note=(
            "systemd tracks the process; no PID file is written")),
        Option("logfile", to_optional_path, "", lifecycle=Lifecycle.DEPRECATED, note=(
            "the journal keeps the logs (journalctl -u chipmunk-client); the file is "
            "still written for now"), help=(
            "Deprecated: the journal keeps the logs.  Still honoured: an extra log\n"
            "file, reopened on SIGUSR1 after it was moved aside.")),
    ), help="Only for the daemon (chipmunk-client run)."),
    Section("dDNS", (
        Option("provider", to_provider_names, "", attribute="providers", help=(
            "DNS providers to update, comma-separated; each has a section of its\n"
            f"own below.  Built in: {', '.join(sorted(BUILTIN))}; any DNS API\n"
            "dns-lexicon knows works too (chipmunk-client providers lists them).")),
    ), help="Which DNS providers to update."),
)


def build_schema(providers: tuple[str, ...] | None = None) -> Schema:
    """The base sections plus the sections of ``providers`` (default: the
    built-in ones, for the sample config and the manual page)."""
    names = tuple(BUILTIN) if providers is None else providers
    return provider_schema("<built-in>", list(BASE_SECTIONS), names, "dDNS")


@dataclass(frozen=True)
class ClientSettings:
    path: str
    update_dns: bool
    state_dir: Path
    ipv6_source: str
    max_interval: float
    metrics_file: Path | None
    username: str | None
    password: str | None
    method: str
    endpoint: str | None
    endpoint6: str | None
    tls_verify: bool | str
    timeout: float
    ipv4_sources: tuple[SourceSpec, ...] | None
    ipv6_sources: tuple[SourceSpec, ...] | None
    agree: int | None
    discovery_timeout: float
    accept_non_global: bool
    interval: float
    watch_network: bool
    interfaces: tuple[str, ...]
    debounce: float
    logfile: Path | None
    providers: tuple[str, ...]
    #: provider name -> its converted section
    provider_values: dict[str, dict[str, Any]]
    warnings: tuple[str, ...] = field(default=())


    def sources_for(self, family: int) -> tuple[SourceSpec, ...] | None:
        """The [Discovery] sources of ``family`` (4 or 6), or the public
        defaults when no chipmunk server is configured; None: the family
        keeps the original behaviour (the chipmunk server, ipv6_source)."""
        given = self.ipv4_sources if family == 4 else self.ipv6_sources
        if given is not None:
            return given
        if self.endpoint is not None or (family == 6 and self.ipv6_source != "server"):
            return None
        return default_sources(family)

    @property
    def ipv6_defaulted(self) -> bool:
        """IPv6 comes from the public defaults (asked only on an IPv6 host)."""
        return self.ipv6_sources is None and self.sources_for(6) is not None

    def needed(self, family: int) -> int:
        """How many of ``family``'s sources must agree."""
        return self.agree or default_agreement(len(self.sources_for(family) or ()))

    def fingerprint(self, provider: str) -> str:
        """Changes when the provider's section does: a record that needs a
        person's attention is retried once its configuration changed."""
        text = repr(sorted((k, str(v)) for k, v in self.provider_values[provider].items()))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


#: ClientSettings fields that do not come from one config key
DERIVED_FIELDS = ("path", "provider_values", "warnings")
STATIC_SECTIONS = tuple(section.name for section in BASE_SECTIONS)


def load_settings(path: str | os.PathLike) -> ClientSettings:
    """Load and validate the client config; raise ConfigError on any fault."""
    path = str(path)
    parser = Schema(BASE_SECTIONS).read(path)
    listed = _listed_providers(parser, path)
    schema = provider_schema(path, list(BASE_SECTIONS), listed, "dDNS")
    loaded = schema.convert(parser, path, ignored_sections=is_known)
    warnings = list(loaded.warnings)
    server, daemon = loaded.section("ChipmunkAPIServer"), loaded.section("Daemon")
    for key in ("endpoint", "endpoint6"):
        address = server[key] or ""
        if address.startswith("http://") and not _is_loopback(urlsplit(address).hostname
                                                               or ""):
            warnings.append(f"{path}: [ChipmunkAPIServer] {key} = {address!r}: the password "
                            "travels unencrypted over plain http; use https")
    if server["tls_verify"] is False:
        warnings.append(f"{path}: [ChipmunkAPIServer] tls_verify = no: the server's "
                        "certificate is not checked; anyone on the path can read the "
                        "password.  Prefer tls_verify = /path/to/ca.pem")
    if loaded.get("Global", "metrics_file") and \
            importlib.util.find_spec("prometheus_client") is None:
        raise ConfigError(path, "needs prometheus_client (apt install "
                          "python3-prometheus-client)", "Global", "metrics_file")
    if daemon["interval"] < MIN_SENSIBLE_INTERVAL:
        warnings.append(f"{path}: [Daemon] interval = {daemon['interval']:g}: checking more "
                        f"often than every {MIN_SENSIBLE_INTERVAL:g}s only loads the server")
    values = schema.field_values(loaded, STATIC_SECTIONS)
    values["state_dir"] = values["state_dir"] or default_state_dir()
    values["providers"] = listed
    settings = ClientSettings(path=path, **values, warnings=tuple(warnings),
                              provider_values={name: loaded.section(name) for name in listed})
    check_discovery(settings)
    return settings


def check_discovery(settings: ClientSettings) -> None:
    """ConfigError when the sources cannot work as configured: the chipmunk
    server used without its keys, more agreement than sources, a library a
    source needs missing."""
    path = settings.path
    for family in (4, 6):
        specs = settings.sources_for(family)
        key = FAMILY_KEYS[family]
        if specs is None:
            continue
        if settings.agree is not None and settings.agree > len(specs):
            raise ConfigError(path, f"{settings.agree} sources must agree but {key} lists "
                              f"{len(specs)}", "Discovery", "agree", str(settings.agree))
        for spec in specs:
            missing = missing_library(spec)
            if missing is not None:
                raise ConfigError(path, missing, "Discovery", key, spec.text)
    uses_server = settings.sources_for(4) is None or any(
        spec.kind == "chipmunk" for family in (4, 6) for spec in settings.sources_for(family)
        or ())
    if uses_server:
        for key in ("endpoint", "username", "password"):
            if getattr(settings, key) is None:
                raise ConfigError(path, "required key is missing (the chipmunk source "
                                  "needs it; without a chipmunk server, leave out "
                                  "[ChipmunkAPIServer] and list sources in [Discovery])",
                                  "ChipmunkAPIServer", key)


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


def effective_settings(settings: ClientSettings) -> str:
    """What ``chipmunk-client check`` prints: the settings in use, secrets masked."""
    def value(section: Section, option: Option) -> object:
        if section.name in settings.provider_values:
            return settings.provider_values[section.name][option.key]
        return getattr(settings, option.field_name)
    return build_schema(settings.providers).render_effective(
        settings.path, value, [*STATIC_SECTIONS, *settings.providers])


def render_sample() -> str:
    return build_schema().render_sample(f"chipmunk-client configuration "
                                        f"({DEFAULT_CONFIG_PATH})")
