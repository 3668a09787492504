"""chipmunk-server's configuration: its schema and the typed settings object.

The original ``chipmunkapi.ini`` (``[Paths] client_update_dir`` and
``[Users]``) loads unchanged; everything under ``[Server]`` is new and
optional.  ``[Hostnames]`` says which names each user may update through
dyndns2, ``[Publish] provider`` which providers publish them; each provider's
section is the client's (same code and keys), except that ``host`` is not
needed: the record names come from the requests.
"""
from __future__ import annotations

import configparser
import importlib.util
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config import (
    ConfigError,
    LoadedConfig,
    Option,
    Schema,
    Section,
    format_value,
    read_config_text,
)
from ..converters import (
    bounded_duration,
    bounded_float,
    bounded_int,
    list_of,
    optional,
    to_bool,
    to_hostnames,
    to_networks,
    to_nonempty_text,
    to_optional_path,
    url,
)
from ..providers import is_known, provider_schema, to_provider_names
from ..systemd import state_directory
from . import passwords
from .addressbook import state_dir_problem
from .forwarded import to_proxy_header
from .keys import Key, is_key_section, load_keys

DEFAULT_CONFIG_PATH = "/etc/chipmunk/server.ini"
DEFAULT_STATE_DIR = "/var/lib/chipmunk"
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    @property
    def family_is_ipv6(self) -> bool:
        return ":" in self.host

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if self.family_is_ipv6 else f"{self.host}:{self.port}"


def listen_address(item: str) -> ListenAddress:
    """``127.0.0.1:8080`` or ``[::]:8080`` (numeric hosts only)."""
    match = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", item)
    if not match:
        raise ValueError(f"{item!r}: expected HOST:PORT or [IPV6]:PORT")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{item!r}: {host!r} is not a numeric IP address") from None
    if (parsed.version == 6) != bool(match.group(1)):
        raise ValueError(f"{item!r}: write IPv6 addresses in brackets, IPv4 without")
    if port > 65535:
        raise ValueError(f"{item!r}: port must be 0..65535")
    return ListenAddress(str(parsed), port)



parse_listen = list_of(listen_address, "HOST:PORT addresses")
parse_metrics_listen = list_of(listen_address, "HOST:PORT addresses", allow_empty=True)


def overlapping(one: ListenAddress, other: ListenAddress) -> bool:
    """Whether both would bind the same port of one address (a wildcard
    address covers every address of its family; ``[::]`` every address of
    both, as a dual-stack socket binds it)."""
    if one.port != other.port or one.port == 0:
        return False
    if one.host == other.host or "::" in (one.host, other.host):
        return True  # "[::]" is dual-stack: it takes IPv4 connections too
    return one.family_is_ipv6 == other.family_is_ipv6 and "0.0.0.0" in (one.host, other.host)


def to_recheck(text: str) -> float:
    """0 (always read), or a duration of one second or more."""
    seconds = bounded_duration(0, 366 * 86400)(text)
    if 0 < seconds < 1:
        raise ValueError("expected 0 (read every time) or a duration of 1s or more")
    return seconds


def to_workers(text: str) -> int:
    """A number of processes, or ``auto``: one per usable CPU (at most 64)."""
    if text.strip().lower() == "auto":
        return min(len(os.sched_getaffinity(0)), 64)
    return bounded_int(1, 64)(text)


def default_state_dir() -> Path:
    return state_directory(DEFAULT_STATE_DIR)


BASE_SECTIONS = [
    Section("Paths", (
        Option("client_update_dir", to_optional_path, help=(
            "Directory where /set stores <username>.cm files and touches 'updated'.\n"
            "The user running the server must be able to write there; it is made\n"
            "(0750) when missing.  Under systemd (StateDirectory=) the default is\n"
            "$STATE_DIRECTORY."),
            default_factory=default_state_dir, default_text=DEFAULT_STATE_DIR,
            attribute="state_dir"),
    )),
    Section("Server", (
        Option("listen", parse_listen, "127.0.0.1:8080", help=(
            "Addresses to listen on, comma-separated: 127.0.0.1:8080, [::]:8080.\n"
            "Ignored under socket activation (the .socket unit decides)."),
            default_text="127.0.0.1:8080"),
        Option("workers", to_workers, "auto", help=(
            "Server processes sharing the listening sockets: a number, or auto for\n"
            "one per CPU core this process may run on (as nginx's worker_processes).")),
        Option("threads", bounded_int(1, 256), "4", help=(
            "Worker threads per process.  Idle keep-alive connections hold no thread.")),
        Option("backlog", bounded_int(16, 65535), "1024", help=(
            "Listen backlog: connections the kernel queues before the server accepts.")),
        Option("connection_timeout", bounded_float(1, 3600), "10", help=(
            "Seconds an idle keep-alive connection is kept open.")),
        Option("header_timeout", bounded_float(0.5, 3600), "10", help=(
            "Seconds a client has to send a whole request head, from its first\n"
            "byte (for a new connection: from connecting).  Not per byte: a client\n"
            "trickling its request is closed (408) when the time is up.")),
        Option("body_timeout", bounded_float(0.5, 3600), "10", help=(
            "Seconds a client has to send the request body after its head.")),
        Option("max_connections_per_client", bounded_int(0, 100000), "64", help=(
            "Open connections one client may hold per server process; more are\n"
            "closed at once.  A client is its network as the lockout counts it\n"
            "(an IPv6 /64 by default).  Trusted proxies are not capped: their own\n"
            "limits see the real clients.  0: no limit.")),
        Option("max_header_size", bounded_int(1024, 1 << 20), "16384", help=(
            "Largest request head (request line and headers) in bytes.")),
        Option("max_body_size", bounded_int(0, 1 << 20), "4096", help=(
            "Largest request body in bytes; Chipmunk's API needs none.")),
        Option("tls_certificate", to_optional_path, "", help=(
            "PEM certificate chain; with tls_private_key, the server speaks HTTPS\n"
            "(TLS 1.2 or newer).  Reloaded on SIGHUP.")),
        Option("tls_private_key", to_optional_path, "", help=(
            "PEM private key for tls_certificate.")),
        Option("trusted_proxies", to_networks, "", help=(
            "Reverse proxies (addresses or CIDRs) whose proxy_header is believed,\n"
            "read right to left up to the first address that is not one of them.\n"
            "Their connections are not capped by max_connections_per_client.\n"
            "Empty: every proxy header is ignored.")),
        Option("proxy_header", to_proxy_header, "x-forwarded-for", help=(
            "The one header the trusted proxies set: x-forwarded-for (nginx's\n"
            "proxy_add_x_forwarded_for, HAProxy's option forwardfor, Apache) or\n"
            "forwarded (RFC 7239).  The other is the client's own text: never read.\n"
            "With x-forwarded-for, X-Forwarded-Proto says http or https.")),
        Option("public_url", optional(url(example="https://ddns.example.org")), "", help=(
            "The URL people and routers reach this server at, e.g.\n"
            "https://ddns.example.org; the status page shows update URLs under it\n"
            "and takes it as this server's origin.  Empty: from the request (Host,\n"
            "and X-Forwarded-Proto from a trusted proxy).")),
        Option("publish_non_global", to_bool, "no", help=(
            "yes: dyndns2 accepts any unicast address (LAN-only set-ups, tests and\n"
            "demos with documentation addresses).  no: only global unicast\n"
            "addresses are published; private, loopback, link-local, shared\n"
            "(100.64.0.0/10, carrier-grade NAT) and documentation addresses get\n"
            "dnserr.")),
        Option("metrics_listen", parse_metrics_listen, "", help=(
            "Where to serve Prometheus metrics (/metrics, no password), e.g.\n"
            "127.0.0.1:9808; never the address of listen.  Empty: no metrics.\n"
            "Needs python3-prometheus-client.  Restart to change.")),
        Option("realm", to_nonempty_text, "chipmunk", help=(
            "Realm sent in WWW-Authenticate with 401 answers.")),
        Option("auth_failure_limit", bounded_int(1, 10000), "10", help=(
            "Failed logins from one client address within auth_failure_window that\n"
            "lock the address out.")),
        Option("auth_failure_window", bounded_float(1, 86400), "60", help=(
            "Seconds over which failed logins are counted.")),
        Option("auth_lockout", bounded_float(1, 86400), "300", help=(
            "Seconds a locked-out address gets 429 with Retry-After.")),
        Option("max_parallel_hashes", bounded_int(1, 256), "1", help=(
            "Password hashes (about 0.1 s of CPU each) computed at once, by all\n"
            "workers together; a login that needs one more is refused at once\n"
            "with 503 and Retry-After.  Cached logins never wait.  Restart to change.")),
        Option("lockout_ipv4_prefix", bounded_int(8, 32), "32", help=(
            "Failed logins are counted per IPv4 network of this prefix length\n"
            "(32: per address).")),
        Option("lockout_ipv6_prefix", bounded_int(16, 128), "64", help=(
            "Failed logins are counted per IPv6 network of this prefix length:\n"
            "one host usually holds a whole /64 and could rotate through it.")),
    ), help="Everything in this section is optional."),
    Section("Hostnames", free_form=True, help=(
        "Who may update which names through dyndns2 (/nic/update): one line per\n"
        "user, username = host names, comma-separated.  A name belongs to one user."),
        example="# For example:\n#   alice = home.example.org, nas.example.org"),
    Section("Publish", (
        Option("provider", to_provider_names, "", attribute="publish", help=(
            "Providers this server updates with every address accepted through\n"
            "dyndns2, comma-separated; each has a section of its own, as in the\n"
            "client's config (without host: the names come from the requests).\n"
            "Empty: accepted addresses are kept in client_update_dir/hostnames/.")),
        Option("timeout", bounded_float(1, 300), "10", help=(
            "Seconds one dyndns2 request waits for its providers, all its names\n"
            "together (they are published at once); what is not done by then\n"
            "is 911.  The router waits as long.")),
        Option("backoff", bounded_float(0, 3600), "10", help=(
            "Seconds a provider that failed for a passing reason (no answer, a\n"
            "server error) is not called again: its updates are 911 at once, and\n"
            "it is logged once.  0: call it every time.")),
        Option("recheck", to_recheck, "5m", help=(
            "How long an address a provider confirmed (read, or written) is\n"
            "believed: a router repeating it gets nochg without a provider call.\n"
            "After that the provider is read again, so a change made behind the\n"
            "server's back is repaired.  Seconds, or with s, m, h, d; 0: read\n"
            "on every request.")),
        Option("challenge_lifetime", bounded_duration(2, 7 * 86400), "1h", help=(
            "How long an ACME challenge (TXT) set through the acme-dns API stays in\n"
            "DNS at most (a sweep every minute removes older ones); the two most\n"
            "recent of a name are kept.")),
    ), help="Where accepted dyndns2 updates and ACME challenges go."),
    Section("Users", free_form=True, help=(
        "One line per user: username = password.  Usernames may use A-Z a-z 0-9 . _ -\n"
        "(at most 64, not starting with '.').  Paste a hash from\n"
        "'chipmunk-server hash-password' instead of a plain-text password.\n"
        "With no users every request is refused with 401."),
        example=("# For example (the hash comes from chipmunk-server hash-password):\n"
                 "#   alice = $scrypt$ln=15,r=8,p=1$SALT$HASH")),
    # [Users] stays last: appending "name = hash" to the shipped file works
]
#: the sections every server config has (the sample config and manual page)
SCHEMA = Schema(BASE_SECTIONS)


@dataclass(frozen=True)
class ServerSettings:
    path: str
    state_dir: Path
    listen: tuple[ListenAddress, ...]
    workers: int
    threads: int
    backlog: int
    connection_timeout: float
    header_timeout: float
    body_timeout: float
    max_connections_per_client: int
    max_header_size: int
    max_body_size: int
    tls_certificate: Path | None
    tls_private_key: Path | None
    trusted_proxies: tuple
    proxy_header: str
    public_url: str | None
    publish_non_global: bool
    metrics_listen: tuple[ListenAddress, ...]
    realm: str
    auth_failure_limit: int
    auth_failure_window: float
    auth_lockout: float
    max_parallel_hashes: int
    lockout_ipv4_prefix: int
    lockout_ipv6_prefix: int
    publish: tuple[str, ...]
    timeout: float
    backoff: float
    recheck: float
    challenge_lifetime: float
    users: dict[str, passwords.UserCredential]
    #: user -> the hostnames (normalized) that user may update
    hostnames: dict[str, tuple[str, ...]]
    #: publishing provider name -> its converted section
    provider_values: dict[str, dict]
    warnings: tuple[str, ...]
    #: of the file's text: a worker acknowledges a reload with it
    digest: str = field(compare=False)
    #: key id -> the scoped key ([Key ID] sections)
    keys: dict[str, Key] = field(default_factory=dict)

    def owned(self, user: str) -> tuple[str, ...]:
        """The hostnames ``user`` (or a key with the update scope) may update."""
        key = self.keys.get(user)
        if key is not None:
            return (key.hostname,) if key.may("update") else ()
        return self.hostnames.get(user, ())

    @property
    def tls(self) -> bool:
        return self.tls_certificate is not None


#: ServerSettings fields that do not come from one config key
DERIVED_FIELDS = ("path", "users", "hostnames", "provider_values", "warnings", "digest",
                  "keys")
STATIC_SECTIONS = ("Paths", "Server", "Publish")


def schema_for(text: str, path: str) -> Schema:
    """The base sections plus the sections of the providers ``[Publish]`` names."""
    parser = SCHEMA.parse(text, path)
    raw = parser.get("Publish", "provider", fallback="")
    try:
        names = to_provider_names(raw)
    except ValueError as error:
        raise ConfigError(path, str(error), "Publish", "provider", raw) from None
    return provider_schema(path, BASE_SECTIONS, names, "Publish", names_from_requests=True)


def load_settings(path: str | os.PathLike) -> ServerSettings:
    """Load and validate the server config; raise ConfigError on any fault."""
    return load_text(read_config_text(path), str(path))


def load_text(text: str, path: str = "<config>") -> ServerSettings:
    loaded = schema_for(text, path).load_text(
        text, path, ignored_sections=lambda name: is_known(name) or is_key_section(name))
    return settings_from(loaded, SCHEMA.parse(text, path))


def settings_from(loaded: LoadedConfig,
                  parser: configparser.ConfigParser | None = None) -> ServerSettings:
    """``parser``: the file's sections, for its ``[Key ...]`` sections."""
    server = loaded.section("Server")
    values = SCHEMA.field_values(loaded, STATIC_SECTIONS)
    values["state_dir"] = values["state_dir"] or default_state_dir()
    warnings = list(loaded.warnings)
    users = _users(loaded, warnings)
    if (server["tls_certificate"] is None) != (server["tls_private_key"] is None):
        raise ConfigError(loaded.path, "set both tls_certificate and tls_private_key, "
                          "or neither", "Server")
    for metrics in server["metrics_listen"]:
        if any(overlapping(metrics, address) for address in server["listen"]):
            raise ConfigError(loaded.path, "overlaps listen: both would bind the port and "
                              "the kernel would split the connections between them",
                              "Server", "metrics_listen", str(metrics))
    if server["metrics_listen"] and importlib.util.find_spec("prometheus_client") is None:
        raise ConfigError(loaded.path, "needs prometheus_client (apt install "
                          "python3-prometheus-client)", "Server", "metrics_listen")
    if '"' in server["realm"] or "\\" in server["realm"]:
        raise ConfigError(loaded.path, "must not contain quotes or backslashes",
                          "Server", "realm", server["realm"])
    problem = state_dir_problem(values["state_dir"])
    if problem is not None:
        raise ConfigError(loaded.path, f"cannot keep the state there: {problem}", "Paths",
                          "client_update_dir", str(values["state_dir"]))
    hostnames = _hostnames(loaded, users)
    owners = {name: user for user, names in hostnames.items() for name in names}
    keys = load_keys(parser, loaded.path, owners, users) if parser is not None else {}
    return ServerSettings(path=loaded.path, users=users, hostnames=hostnames, keys=keys,
                          provider_values={name: loaded.section(name)
                                           for name in values["publish"]},
                          warnings=tuple(warnings), digest=loaded.digest, **values)


def _hostnames(loaded: LoadedConfig, users: dict) -> dict[str, tuple[str, ...]]:
    owners: dict[str, str] = {}
    hostnames: dict[str, tuple[str, ...]] = {}
    for user, raw in loaded.free_sections["Hostnames"].items():
        if user not in users:
            raise ConfigError(loaded.path, "no such user in [Users]", "Hostnames", user)
        try:
            names = to_hostnames(raw)
        except ValueError as error:
            raise ConfigError(loaded.path, str(error), "Hostnames", user, raw) from None
        for name in names:
            if owners.setdefault(name, user) != user:
                raise ConfigError(loaded.path, f"{name} is also {owners[name]}'s: a name "
                                  "belongs to one user", "Hostnames", user, raw)
        hostnames[user] = names
    return hostnames


def _users(loaded: LoadedConfig, warnings: list[str]) -> dict[str, passwords.UserCredential]:
    users: dict[str, passwords.UserCredential] = {}
    plain_users = []
    for name, secret in loaded.free_sections["Users"].items():
        if not USERNAME_PATTERN.fullmatch(name) or name.startswith("."):
            raise ConfigError(loaded.path, "usernames become file names: use only "
                              "A-Z a-z 0-9 . _ -, at most 64, not starting with '.'",
                              "Users", name)
        if not secret:
            raise ConfigError(loaded.path, "empty password", "Users", name)
        if passwords.is_hashed(secret):
            try:
                users[name] = passwords.UserCredential(passwords.parse_hash(secret), None)
            except ValueError as error:
                raise ConfigError(loaded.path, str(error), "Users", name) from None
        else:
            users[name] = passwords.UserCredential(None, secret.encode("utf-8"))
            plain_users.append(name)
    if plain_users:
        warnings.append(f"{loaded.path}: [Users] {', '.join(plain_users)}: plain-text "
                        "password; replace it with the output of "
                        "'chipmunk-server hash-password'")
    return users


def render_sample() -> str:
    return SCHEMA.render_sample("chipmunk-server configuration "
                                f"({DEFAULT_CONFIG_PATH})")


def effective_settings(settings: ServerSettings) -> str:
    """What ``chipmunk-server check`` prints: the settings in use, secrets masked."""
    schema = provider_schema(settings.path, BASE_SECTIONS, settings.publish, "Publish",
                             names_from_requests=True)

    def value(section: Section, option: Option) -> object:
        if section.name in settings.provider_values:
            return settings.provider_values[section.name][option.key]
        return getattr(settings, option.field_name)
    return schema.render_effective(
        settings.path, value, [*SCHEMA.sections, *settings.publish],
        free={"Users": dict.fromkeys(settings.users),
              "Hostnames": {user: format_value(names)
                            for user, names in settings.hostnames.items()}})
