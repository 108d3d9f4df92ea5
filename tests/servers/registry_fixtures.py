"""pytest fixtures for real container registries (CNCF distribution ``docker-registry``).

- ``registry_server``: a factory; ``registry_server.start(mode="anonymous"|"basic"|"token",
  tls=False, notifications=None, anonymous_pull=False)`` returns a running
  ``tests.servers.registry_process.RegistryServer`` (``host``, ``url``, ``username``,
  ``password``, ``ca_file``, ``token_server``, ``served()``, ``set_password()``, ``stop()``).
  Start as many as needed; each gets its own port and directory. All stop after the test.
- ``shared_registry``: the same factory, session-scoped: ``shared_registry.get(mode, tls)``
  returns one server per (mode, tls) reused by every test (use a unique repository name).

When a test fails, the part of each registry's log written during that test (its last
lines, and the token requests) is attached to the report. Push images with ``tests.servers.images``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import binaries
from tests.servers import registry_process

_LIVE: list[registry_process.RegistryServer] = []
_LOG_TAIL_LINES = 80


class RegistryFactory:
    """Starts registries under one base directory and stops them all at the end."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.servers: list[registry_process.RegistryServer] = []
        self._counter = itertools.count()

    def start(
        self,
        mode: str = "anonymous",
        tls: bool = False,
        *,
        notifications: list[dict[str, Any]] | None = None,
        anonymous_pull: bool = False,
    ) -> registry_process.RegistryServer:
        binary = binaries.require("docker-registry")
        binaries.require("htpasswd")
        workdir = self.base / f"registry-{next(self._counter)}-{mode}{'-tls' if tls else ''}"
        server = registry_process.start_registry(
            binary=binary,
            workdir=workdir,
            mode=mode,
            tls=tls,
            notifications=notifications,
            anonymous_pull=anonymous_pull,
        )
        self.servers.append(server)
        _LIVE.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()
            if server in _LIVE:
                _LIVE.remove(server)
        self.servers.clear()


class SharedRegistries(RegistryFactory):
    """One registry per (mode, tls), started on first use and kept for the session."""

    def __init__(self, base: Path) -> None:
        super().__init__(base)
        self._by_kind: dict[tuple[str, bool], registry_process.RegistryServer] = {}

    def get(self, mode: str = "anonymous", tls: bool = False) -> registry_process.RegistryServer:
        server = self._by_kind.get((mode, tls))
        if server is None or not server.alive():
            server = self._by_kind[(mode, tls)] = self.start(mode, tls)
        return server


@pytest.fixture
def registry_server(tmp_path: Path) -> Iterator[RegistryFactory]:
    factory = RegistryFactory(tmp_path)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="session")
def shared_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedRegistries]:
    factory = SharedRegistries(tmp_path_factory.mktemp("registries"))
    yield factory
    factory.stop_all()


_SIZES = pytest.StashKey[dict[int, int]]()


def _log_size(server: registry_process.RegistryServer) -> int:
    try:
        return server.log_path.stat().st_size
    except OSError:
        return 0


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Remember how far each running registry's log was, to show only this test's part.
    item.stash[_SIZES] = {id(server): _log_size(server) for server in _LIVE}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    sizes = item.stash.get(_SIZES, {})
    for server in list(_LIVE):
        start = sizes.get(id(server), 0)
        if _log_size(server) == start:
            continue  # this test did not touch that registry
        text = server.log().encode()[start:].decode(errors="replace")
        lines = text.splitlines()[-_LOG_TAIL_LINES:]
        text = "\n".join(lines)
        if server.token_server is not None:
            token_lines = [str(r) for r in server.token_server.requests[-20:]]
            text += "\n-- token requests --\n" + "\n".join(token_lines)
        report.sections.append((f"registry {server.mode} {server.url} log", text))
