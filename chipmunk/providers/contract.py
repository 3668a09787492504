"""The provider contract as tests: every provider's test suite runs these.

A plugin outside this tree uses it the same way (it needs pytest)::

    from chipmunk.providers.contract import ContractSubject, ProviderContract, make_provider

    class TestExampleContract(ProviderContract):
        @pytest.fixture
        def subject(self, tmp_path):
            with FakeExampleAPI() as fake:          # a local fake of the service
                yield ContractSubject(
                    provider=make_provider("example", f"endpoint = {fake.url}\\n..."),
                    record=Record("example", "home.example.org", "A"),
                    observe=lambda name: fake.addresses(name, "A"),
                    other_name="nas.example.org",
                    refused=make_provider("example", "api_token = wrong\\n..."),
                    failures=[(make_provider("example", "endpoint = http://127.0.0.1:9\\n..."),
                               TemporaryError)])

``observe`` must ask the service itself (a DNS query, the fake's records),
never the provider under test.  Each test gets a fresh subject.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import Schema, Section
from ..errors import CredentialsRefused, UpdateError
from . import provider_class
from .base import Change, Current, DNSProvider, Record

FIRST, SECOND = "192.0.2.10", "192.0.2.20"


def make_provider(name: str, section: str, timeout: float = 5.0) -> DNSProvider:
    """The provider ``name`` built from the text of its section, converted
    exactly as a client config's section is."""
    cls = provider_class(name)
    schema = Schema([Section(name, cls.section_options())])
    loaded = schema.load_text(f"[{name}]\n{section}")
    return cls(loaded.section(name), timeout)


@dataclass
class ContractSubject:
    #: the provider under test, configured against a service the test controls
    provider: DNSProvider
    #: a record of type A it keeps
    record: Record
    #: the addresses the service now holds for a name, asked of the service
    observe: Callable[[str], list[str]]
    #: another name in its zone that the configuration does not list (the
    #: server passes hostnames at call time)
    other_name: str
    #: the same provider with credentials the service refuses (required when
    #: the provider has a secret option)
    refused: DNSProvider | None = None
    #: providers that must fail, and the error kind each must raise
    failures: list[tuple[DNSProvider, type[UpdateError]]] = field(default_factory=list)


class ProviderContract:
    """Mix into a test class that defines a ``subject`` fixture."""

    def test_the_class_keeps_the_contract(self, subject: ContractSubject) -> None:
        cls = type(subject.provider)
        assert cls.contract_problems() == []
        assert "update" not in vars(cls), "update() belongs to the base"
        keys = [option.key for option in cls.section_options()]
        assert len(keys) == len(set(keys)), f"a key declared twice: {keys}"
        assert "record_types" in keys and all(key.isidentifier() for key in keys)
        assert all(option.help for option in cls.section_options()), "every key explained"

    def test_an_update_reaches_the_service(self, subject: ContractSubject) -> None:
        outcome = subject.provider.update(subject.record, FIRST)
        assert outcome.change in (Change.CREATED, Change.UPDATED)
        assert subject.observe(subject.record.name) == [FIRST]
        subject.provider.update(subject.record, SECOND)
        assert subject.observe(subject.record.name) == [SECOND]

    def test_read_tells_what_the_service_holds(self, subject: ContractSubject) -> None:
        subject.provider.update(subject.record, FIRST)
        if subject.provider.readable:
            current = subject.provider.read(subject.record)
            assert isinstance(current, Current) and current.address == FIRST
        else:
            assert type(subject.provider).read is DNSProvider.read, \
                "a provider that reads says readable = True"

    def test_an_equal_record_is_left_alone(self, subject: ContractSubject) -> None:
        subject.provider.update(subject.record, FIRST)
        again = subject.provider.update(subject.record, FIRST, last_written=FIRST)
        # a provider that cannot read cannot know: it sends again, and says so
        expected = Change.UNCHANGED if subject.provider.readable else Change.UPDATED
        assert again.change is expected
        assert subject.observe(subject.record.name) == [FIRST]

    def test_a_dry_run_changes_nothing(self, subject: ContractSubject) -> None:
        subject.provider.update(subject.record, FIRST)
        outcome = subject.provider.update(subject.record, SECOND, dry_run=True)
        assert outcome.change is Change.WOULD_UPDATE
        assert subject.observe(subject.record.name) == [FIRST]

    def test_a_name_given_at_call_time(self, subject: ContractSubject) -> None:
        assert subject.provider.owns(subject.other_name)
        assert subject.other_name not in subject.provider.names()
        other = Record(subject.record.provider, subject.other_name, "A")
        subject.provider.update(other, SECOND)
        assert subject.observe(subject.other_name) == [SECOND]

    def test_refused_credentials_need_a_person(self, subject: ContractSubject) -> None:
        has_secret = any(option.secret for option in
                         type(subject.provider).section_options())
        assert (subject.refused is not None) == has_secret, \
            "a provider with credentials is tested with refused ones"
        if subject.refused is not None:
            _expect(subject.refused, subject.record, CredentialsRefused)

    def test_failures_are_the_declared_kinds(self, subject: ContractSubject,
                                             caplog: Any) -> None:
        assert subject.failures, "name at least one way the provider fails"
        for provider, kind in subject.failures:
            caplog.clear()  # each failure must log its own event
            with caplog.at_level(logging.ERROR):
                _expect(provider, subject.record, kind)
            assert any(getattr(entry, "CHIPMUNK_EVENT", None) == "update-failed"
                       for entry in caplog.records), "the failure is logged as an event"


def _expect(provider: DNSProvider, record: Record, kind: type[UpdateError]) -> None:
    try:
        provider.update(record, FIRST)
    except UpdateError as error:
        assert isinstance(error, kind), f"{type(error).__name__}: {error}, not {kind.__name__}"
    else:
        raise AssertionError(f"{type(provider).__name__} did not fail with {kind.__name__}")
    finally:
        provider.close()
