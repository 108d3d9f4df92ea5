"""Fixtures for registry/ tests: clients for the real registry fixtures, and the stub."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import registry
from tests.servers import registry_process, registry_stub


def make_client(
    server: registry_process.RegistryServer,
    *,
    password: str | None = None,
    anonymous: bool = False,
    **settings: Any,
) -> registry.Client:
    """A client for a running registry with its test credentials (or others)."""
    source = None
    if server.username and not anonymous:
        source = registry.Static(server.username, server.password if password is None else password)
    config = registry.ClientSettings(host=server.host, ca_file=server.ca_file, **settings)
    return registry.Client(config, credentials_source=source)


@pytest.fixture
def client_for() -> Iterator[Callable[..., registry.Client]]:
    made: list[registry.Client] = []

    def build(server: registry_process.RegistryServer, **kwargs: Any) -> registry.Client:
        found = make_client(server, **kwargs)
        made.append(found)
        return found

    yield build
    for found in made:
        found.close()


@pytest.fixture
def stub_registry() -> Iterator[registry_stub.StubRegistry]:
    stub = registry_stub.StubRegistry().start()
    yield stub
    stub.stop()


def no_sleep(seconds: float) -> None:
    """Sleep replacement for retry tests: records nothing, waits nothing."""
