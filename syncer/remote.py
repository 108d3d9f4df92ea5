"""Talking to a running controller's JSON API from the command line.

``syncer.commands.backend`` uses ``Client`` when a command is given a server (``--server``,
``SYNCER_SERVER``, or a context that ``syncer login`` saved); the API itself is
``syncer.server.api``. Contexts live in one YAML file like kubeconfig's
(``contexts_path``): ``current`` and, per name, the server URL and its token; the file
is written with mode 0600 and tokens never travel in argv or URLs.

Errors are ours (``syncer.errors``), each naming the server: an unreachable server or a
5xx is a ``SyncerError``; 401/403 is ``Denied``; 409 is a ``PermanentError`` (the answer is
no: nothing waits for approval); 400/404 is a ``ConfigError`` (no such app or stage).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import yaml

from syncer import errors

TIMEOUT = 30.0
"""Seconds to wait for an answer (a plan polls Git and registries, and dry-runs)."""
API = "/api/v1"


Denied = errors.Denied


def check_url(url: str, *, what: str) -> str:
    """``url`` without a trailing slash; ConfigError unless it is http(s)://HOST[:PORT]."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.ConfigError([f"{what} {url!r}: expected http(s)://HOST[:PORT]"])
    if parts.username or parts.password:
        raise errors.ConfigError(
            [f"{what}: credentials in the URL are not allowed; use syncer login or SYNCER_TOKEN"]
        )
    return url.rstrip("/")


class Client:
    """One server's API, with the caller's bearer token (if any)."""

    def __init__(self, *, server: str, token: str = "") -> None:
        self.server = check_url(server, what="server")
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> Any:
        return self._call("GET", path, params=dict(query or {}))

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._call("POST", path, json=dict(body or {}))

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = self.server + API + "/" + "/".join(quote(p, safe="") for p in path.split("/"))
        try:
            answer = self._session.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as err:
            raise errors.SyncerError(
                f"server {self.server}: no answer ({type(err).__name__}); is syncer running there?"
            ) from err
        try:
            body = answer.json()
        except ValueError:
            body = {"error": answer.text[:200]}
        if answer.ok:
            return body
        raise problem(answer.status_code, body, where=f"server {self.server}")


def problem(status: int, body: Any, *, where: str) -> errors.SyncerError:
    """The error of an API answer that is not a success (the same for a local controller)."""
    message = body.get("error") if isinstance(body, dict) else None
    message = str(message or f"HTTP {status}")
    if status in (400, 404):
        return errors.ConfigError([message])
    if status in (401, 403):
        return Denied(f"{where}: {message}")
    if status == 409:
        return errors.PermanentError(message)
    return errors.SyncerError(f"{where}: {message}")


# --- contexts --------------------------------------------------------------------------


def contexts_path(env: Mapping[str, str]) -> Path:
    """``$SYNCER_CONTEXTS``, else ``$XDG_CONFIG_HOME/syncer/contexts.yaml`` (``~/.config``)."""
    if env.get("SYNCER_CONTEXTS"):
        return Path(env["SYNCER_CONTEXTS"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base) / "syncer" / "contexts.yaml"


def load_contexts(path: Path) -> dict[str, Any]:
    """The contexts file (``{"current": NAME, "contexts": {NAME: {server, token}}}``)."""
    if not path.exists():
        return {"current": "", "contexts": {}}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise errors.ConfigError([f"{path}: unreadable contexts file ({err})"]) from err
    if not isinstance(data, dict) or not isinstance(data.get("contexts", {}), dict):
        raise errors.ConfigError([f"{path}: expected 'current' and a 'contexts' mapping"])
    return {"current": str(data.get("current") or ""), "contexts": data.get("contexts") or {}}


def save_context(path: Path, *, name: str, server: str, token: str) -> None:
    """Add or replace context ``name`` and make it current; the file is 0600 from the start."""
    data = load_contexts(path)
    data["contexts"][name] = {"server": server, "token": token}
    data["current"] = name
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".contexts-", suffix=".yaml")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(data, f, sort_keys=False)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def context(path: Path, name: str) -> tuple[str, str]:
    """(server, token) of context ``name`` (empty: the current one)."""
    data = load_contexts(path)
    chosen = name or data["current"]
    found = data["contexts"].get(chosen)
    if not isinstance(found, dict) or not found.get("server"):
        known = ", ".join(data["contexts"]) or "none; run `syncer login URL`"
        raise errors.ConfigError([f"context {chosen!r}: not in {path} (contexts: {known})"])
    return str(found["server"]), str(found.get("token") or "")
