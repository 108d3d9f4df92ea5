"""Where a command reads and changes controller state: the local state file or a server.

The commands that read or act on a controller (status, history, releases, sync,
rollback, suspend, resume, approve, reject, plan) add ``add_flags`` to their parser and
``open_backend`` the namespace. Both backends answer through the API's own functions
(``syncer.server.api``): ``Remote`` over HTTP (``syncer.remote``), ``Local`` by calling
them on a controller over the state file, so the JSON is the same either way and
presentation (``syncer.output``) does not care which one answered.

Which one, first match wins:

1. ``--server URL`` or ``--context NAME``: that server (token from ``SYNCER_TOKEN``,
   ``--token-file``, or the context ``syncer login`` saved);
2. ``-c FILE``: the state file of that config;
3. ``SYNCER_SERVER``, else the current context of the contexts file: that server;
4. the state file of ``./syncer.yaml``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from syncer import controller, errors, remote, state
from syncer.config import loader, model
from syncer.reconcile import parts as parts_
from syncer.server import api, users

DEFAULT_CONFIG = "syncer.yaml"


def add_flags(parser: argparse.ArgumentParser) -> None:
    """``-c`` for the local state file, or ``--server``/``--context`` for a running one."""
    parser.add_argument(
        "-c", "--config", default=None, help=f"config file (default {DEFAULT_CONFIG}); local state"
    )
    parser.add_argument(
        "--server", help="a running syncer's URL (or SYNCER_SERVER); token from SYNCER_TOKEN"
    )
    parser.add_argument("--context", help="a server saved by `syncer login` (default: current)")
    parser.add_argument(
        "--token-file", help="file holding the bearer token for --server (instead of SYNCER_TOKEN)"
    )


class Backend(Protocol):
    where: str
    """Said in messages: ``state file PATH`` or ``server URL``."""

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> Any:
        """``GET /api/v1/<path>``'s answer; errors as ``remote.problem`` raises them."""
        ...

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any: ...

    def close(self) -> None: ...


def server_of(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(server URL, token) when the command goes to a server; ("", "") for local state."""
    env = os.environ if env is None else env
    server, name = getattr(args, "server", None), getattr(args, "context", None)
    if server and name:
        raise errors.ConfigError(["give --server or --context, not both"])
    path = remote.contexts_path(env)
    if not name and not server:
        if getattr(args, "config", None):
            return "", ""
        server = env.get("SYNCER_SERVER", "")
        if not server and not remote.load_contexts(path)["current"]:
            return "", ""
    if server:
        return server, token_of(args, env=env, server=server, contexts=path)
    # A saved context (named, or the current one): its token unless one is given.
    server, saved = remote.context(path, name or "")
    return server, token_given(getattr(args, "token_file", None), env=env) or saved


def token_of(
    args: argparse.Namespace, *, env: Mapping[str, str], server: str, contexts: Path
) -> str:
    """``--token-file``, else ``SYNCER_TOKEN``, else a saved context's for this server."""
    given = token_given(getattr(args, "token_file", None), env=env)
    if given:
        return given
    saved = remote.load_contexts(contexts)["contexts"].values()
    wanted = server.rstrip("/")
    return next(
        (str(c.get("token") or "") for c in saved
         if isinstance(c, dict) and str(c.get("server", "")).rstrip("/") == wanted),
        "",
    )  # fmt: skip


def token_given(token_file: str | None, *, env: Mapping[str, str]) -> str:
    """The token of ``--token-file``, else of ``SYNCER_TOKEN``; empty without either."""
    if token_file:
        try:
            return Path(token_file).expanduser().read_text().strip()
        except OSError as err:
            raise errors.ConfigError([f"--token-file {token_file}: {err.strerror or err}"]) from err
    return env.get("SYNCER_TOKEN", "").strip()


def config_path(args: argparse.Namespace) -> str:
    return str(getattr(args, "config", None) or DEFAULT_CONFIG)


def open_backend(args: argparse.Namespace, *, write: bool = False) -> Backend:
    """``write``: the command changes state (a local state file is created if need be)."""
    server, token = server_of(args)
    if server:
        return Remote(remote.Client(server=server, token=token))
    return Local(config_path(args), write=write)


def act(args: argparse.Namespace, *, action: str, body: dict[str, Any]) -> Any:
    """``POST apps/APP/ACTION`` where the command points (server or state file)."""
    target = open_backend(args, write=True)
    try:
        return target.post(f"apps/{args.app}/{action}", body)
    finally:
        target.close()


def is_remote(args: argparse.Namespace) -> bool:
    return bool(server_of(args)[0])


class Remote:
    def __init__(self, client: remote.Client) -> None:
        self.client = client
        self.where = f"server {client.server}"

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> Any:
        return self.client.get(path, query)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self.client.post(path, body)

    def close(self) -> None:
        self.client.close()


class Local:
    """The API's answers computed here, from the state file (no cluster, Git or registry),
    as the CLI's user (``NAME (cli)``, an admin: whoever can write the file can act)."""

    def __init__(self, path: str, *, write: bool = False) -> None:
        self.path = path
        self.controller, self.store = read_only(path, write=write)
        self.where = f"state file of {path}"
        self.user = users.User(name=cli_user(), role=users.ADMIN)

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> Any:
        parts = path.split("/")
        status, body = api.get(
            port=self.controller,
            parts=parts,
            query={k: str(v) for k, v in (query or {}).items()},
            user=self.user,
        )
        return _answer(status, body, where=self.where)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        status, answer = api.post(
            port=self.controller, parts=path.split("/"), body=dict(body or {}), user=self.user
        )
        return _answer(status, answer, where=self.where)

    def close(self) -> None:
        self.store.close()


class _NoParts:
    """Reading state needs no Git, registry or cluster access."""

    def cleanup(self) -> None:
        pass

    def close(self) -> None:
        pass


def read_only(
    config_path: str, *, write: bool = False
) -> tuple[controller.Controller, state.Store]:
    """A controller over the state file only: no registry or cluster, and Git only for
    the teams' app files (``tenants[].appsFrom``) at the commit the state records.

    With no state file yet, a reader answers from an empty store rather than create the
    file, and says so on stderr; a writer (``write``: suspend, approve, ...) creates it.
    """
    config = loader.load(config_path)
    store = _state_store(config, write=write)
    if any(t.apps_from is not None for t in config.tenants):
        from syncer.reconcile import live  # Git, only to read the teams' app files

        # The teams' own apps, as the running syncer last ran them: their files at the
        # last good commit in the state, from the local Git cache (fetched if missing).
        git = live.LiveParts(config)
        try:
            config = controller.with_recorded_tenant_apps(
                config, store=store, checkout=git.checkout
            )
        finally:
            git.close()
    parts: parts_.Parts = _NoParts()  # type: ignore[assignment]
    return controller.Controller(config=config, store=store, parts=parts), store


def _state_store(config: model.Config, *, write: bool) -> state.Store:
    if state.in_kubernetes(config):
        found = state.open_for(config)
        assert found is not None  # a Kubernetes store always opens (or raises)
        return found
    path = state.state_path(base_dir=config.base_dir, path=config.state.path)
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        print(
            f"syncer: no state yet at {path} (run `syncer sync` or `syncer run` first)",
            file=sys.stderr,
        )
    return state.open_store(path if write or path.exists() else ":memory:")


def _answer(status: int, body: Any, *, where: str) -> Any:
    if status < 300:
        return body
    raise remote.problem(status, body, where=where)


def cli_user() -> str:
    """How history names a person acting through the local CLI."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return f"{name} (cli)"
