"""The configuration a request sees, and how it is built.

Everything that a reload may change lives in one immutable :class:`Runtime`
that the app swaps in a single assignment, so a request sees the old
configuration or the new one, never a mix.  Building one builds its
publishers (providers, connections): the worker does it once per load, and
hands the result to the app (:meth:`~.app.ChipmunkApp.use`).  The request
handlers (:mod:`.dyndns`, :mod:`.statuspage`) take a Runtime; nothing here
knows about them.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .addressbook import AddressBook
from .auth import Authenticator
from .forwarded import RemoteAddressResolver
from .lockout import LoginLockout
from .publisher import Publisher
from .readcache import Replays
from .serverwide import ServerWide
from .settings import ServerSettings


@dataclass(frozen=True)
class Runtime:
    settings: ServerSettings
    resolver: RemoteAddressResolver
    authenticator: Authenticator
    lockout: LoginLockout
    addressbook: AddressBook
    publisher: Publisher
    challenge: str
    #: repeated dyndns2 updates that changed nothing, answered again
    replays: Replays



def build_runtime(settings: ServerSettings, shared: ServerWide,
                  clock: Callable[[], float] = time.monotonic) -> Runtime:
    """A Runtime for ``settings``; failures, lockouts and verified logins live
    on in ``shared``."""
    lockout = LoginLockout(settings.auth_failure_limit, settings.auth_failure_window,
                           settings.auth_lockout, settings.lockout_ipv4_prefix,
                           settings.lockout_ipv6_prefix, clock=clock, table=shared.lockouts)
    publisher = Publisher.for_settings(settings, shared.reads)
    return Runtime(settings=settings,
                   resolver=RemoteAddressResolver(settings.trusted_proxies,
                                                  settings.proxy_header),
                   authenticator=Authenticator(
                       {**settings.users,
                        **{key_id: key.credential for key_id, key in settings.keys.items()}},
                       budget=shared.budget, cache=shared.logins,
                       waiting=max(settings.threads // 2, 1)),
                   lockout=lockout,
                   addressbook=AddressBook(settings.state_dir, shared.reads),
                   publisher=publisher,
                   challenge=f'Basic realm="{settings.realm}", charset="UTF-8"',
                   replays=Replays(shared.reads.token, publisher.clock))
