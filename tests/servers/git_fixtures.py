"""pytest fixtures for real Git servers: smart HTTP (with or without Basic auth) and git daemon.

Factories, so one test can run several servers at once on different ports::

    def test_x(git_http_factory, git_daemon_factory):
        server = git_http_factory(auth=("alice", "s3cret"))
        repo = server.create_repo("app", {"deploy/cm.yaml": "..."})
        repo.commit({"deploy/cm.yaml": "...", "old.yaml": None})   # None deletes
        repo.force_push({"x.yaml": "..."})                         # rewrites history
        server.count("fetch")                                      # upload-pack fetches

``git_ssh`` is an OpenSSH server (``git_ssh.client_key`` and ``git_ssh.known_hosts`` are
what a source's SSH auth holds). ``git_http`` and ``git_daemon`` are ready-made single
servers. Every server is stopped at the end of the test and its request log is printed
(pytest shows it when a test fails).
To serve the same repositories over both protocols, pass ``root=other.root``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import binaries
from tests.servers import git_daemon as daemon_mod
from tests.servers import git_http as http_mod
from tests.servers import git_ssh as ssh_mod
from tests.servers.git_repo import BareRepo, Symlink

__all__ = ["BareRepo", "Symlink"]

GitHTTPFactory = Callable[..., http_mod.GitHTTPServer]
GitDaemonFactory = Callable[..., daemon_mod.GitDaemon]
GitSSHFactory = Callable[..., ssh_mod.GitSSHServer]


@pytest.fixture
def git_http_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHTTPFactory]:
    """``factory(auth=None | (user, password), root=None) -> GitHTTPServer``."""
    binaries.require("git")
    servers: list[http_mod.GitHTTPServer] = []

    def factory(
        *, auth: tuple[str, str] | None = None, root: Path | None = None
    ) -> http_mod.GitHTTPServer:
        server = http_mod.GitHTTPServer(root=root or tmp_path_factory.mktemp("git-http"), auth=auth)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
        print(f"--- git http server {server.base_url} log ---\n{server.logs()}")


@pytest.fixture
def git_daemon_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitDaemonFactory]:
    """``factory(root=None) -> GitDaemon``."""
    binaries.require("git")
    daemons: list[daemon_mod.GitDaemon] = []
    serial = itertools.count()

    def factory(*, root: Path | None = None) -> daemon_mod.GitDaemon:
        root = root or tmp_path_factory.mktemp("git-daemon")
        log = tmp_path_factory.getbasetemp() / f"git-daemon-{next(serial)}-{id(root)}.log"
        daemon = daemon_mod.GitDaemon(root=root, log_path=log)
        daemons.append(daemon)
        return daemon

    yield factory
    for daemon in daemons:
        daemon.stop()
        print(f"--- git daemon {daemon.base_url} log ---\n{daemon.logs()}")


@pytest.fixture
def git_http(git_http_factory: GitHTTPFactory) -> http_mod.GitHTTPServer:
    """One anonymous smart-HTTP Git server."""
    return git_http_factory()


@pytest.fixture
def git_http_auth(git_http_factory: GitHTTPFactory) -> http_mod.GitHTTPServer:
    """One smart-HTTP Git server behind Basic auth as ``git-user`` / ``git-token-123``."""
    return git_http_factory(auth=("git-user", "git-token-123"))


@pytest.fixture
def git_daemon(git_daemon_factory: GitDaemonFactory) -> daemon_mod.GitDaemon:
    """One git daemon."""
    return git_daemon_factory()


@pytest.fixture
def git_ssh_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitSSHFactory]:
    """``factory(root=None) -> GitSSHServer`` (sshd with one client key, git-shell only)."""
    binaries.require("git")
    binaries.require("ssh")
    sshd = binaries.require("sshd")
    servers: list[ssh_mod.GitSSHServer] = []

    def factory(*, root: Path | None = None) -> ssh_mod.GitSSHServer:
        server = ssh_mod.GitSSHServer(
            root=root or tmp_path_factory.mktemp("git-ssh"),
            work=tmp_path_factory.mktemp("sshd"),
            sshd=sshd,
        )
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
        print(f"--- sshd 127.0.0.1:{server.port} log ---\n{server.logs()}")


@pytest.fixture
def git_ssh(git_ssh_factory: GitSSHFactory) -> ssh_mod.GitSSHServer:
    """One Git-over-SSH server."""
    return git_ssh_factory()
