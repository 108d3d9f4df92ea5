"""Where registry credentials come from; asked again each time auth is (re)negotiated.

``registry.auth`` calls ``source.lookup(host)`` whenever it needs to log in (first use,
token expiry, a 401). Sources re-read their input then, so a rotated password or a fresh
ECR token (12 h) is picked up without a restart:

- ``Static``: a user name and password (or a callable returning them).
- ``DockerConfig``: a docker ``config.json`` on disk — ``auths`` (``auth`` or
  ``username``/``password``, ``identitytoken``), ``credHelpers`` and ``credsStore``
  through ``docker-credential-<name>`` executables; re-parsed when the file changes.
- ``DockerConfigJSON``: the same format from a ``kubernetes.io/dockerconfigjson``
  Secret's data (bytes, str or dict), or a callable that fetches it again.
- ``Chain``: the first source that knows the host.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from registry import errors

_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    """An OAuth2 refresh token (docker ``identitytoken`` / helper user ``<token>``)."""

    def __bool__(self) -> bool:
        return bool(self.username or self.identity_token)


class Source(Protocol):
    def lookup(self, host: str) -> Credentials | None:
        """Credentials for ``host`` (as in image references), or None."""


@dataclass
class Static:
    username: str
    password: str = field(repr=False)

    def lookup(self, host: str) -> Credentials | None:
        return Credentials(self.username, self.password)


@dataclass
class Dynamic:
    """Credentials produced by a callable each time (e.g. re-resolving secret refs)."""

    fetch: Callable[[], tuple[str, str]]

    def lookup(self, host: str) -> Credentials | None:
        username, password = self.fetch()
        return Credentials(username, password)


def _host_key(key: str) -> str:
    """``https://host:5000/v1/`` → ``host:5000``; Docker Hub's aliases → ``docker.io``."""
    text = key.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0]
    return "docker.io" if key in _HUB_KEYS or text in _HUB_KEYS else text


def _from_auths(config: Mapping[str, Any], host: str, *, where: str) -> Credentials | None:
    auths = config.get("auths") or {}
    if not isinstance(auths, Mapping):
        raise errors.AuthError(f"{where}: 'auths' must be an object")
    wanted = _host_key(host)
    for key, entry in auths.items():
        if _host_key(str(key)) != wanted or not isinstance(entry, Mapping):
            continue
        if entry.get("identitytoken"):
            return Credentials(
                username=str(entry.get("username", "")),
                identity_token=str(entry["identitytoken"]),
            )
        if entry.get("auth"):
            try:
                decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
            except (ValueError, UnicodeDecodeError) as err:
                raise errors.AuthError(
                    f"{where}: auths[{key!r}].auth is not base64 of 'user:password'"
                ) from err
            username, sep, password = decoded.partition(":")
            if not sep:
                raise errors.AuthError(
                    f"{where}: auths[{key!r}].auth decodes to no 'user:password' pair"
                )
            return Credentials(username, password)
        if entry.get("username"):
            return Credentials(str(entry["username"]), str(entry.get("password", "")))
    return None


def run_helper(helper: str, host: str, *, timeout: float = 30.0) -> Credentials | None:
    """Ask ``docker-credential-<helper> get`` for ``host``; None when it has nothing."""
    executable = shutil.which(f"docker-credential-{helper}")
    if executable is None:
        raise errors.AuthError(
            f"credential helper docker-credential-{helper} for {host} is not on PATH"
        )
    server = "https://index.docker.io/v1/" if _host_key(host) == "docker.io" else host
    try:
        done = subprocess.run(
            [executable, "get"],
            input=server.encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise errors.AuthError(f"credential helper {helper} for {host} failed: {err}") from err
    if done.returncode != 0:
        message = done.stdout.decode(errors="replace").strip()[:200]
        if "credentials not found" in message.lower():
            return None
        raise errors.AuthError(
            f"credential helper {helper} for {host} exited {done.returncode}: {message}"
        )
    try:
        answer = json.loads(done.stdout)
        username, secret = str(answer["Username"]), str(answer["Secret"])
    except (ValueError, KeyError, TypeError) as err:
        raise errors.AuthError(
            f"credential helper {helper} for {host} printed no Username/Secret JSON"
        ) from err
    if username == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(username, secret)


def lookup_config(config: Mapping[str, Any], host: str, *, where: str) -> Credentials | None:
    """Docker's order: ``credHelpers[host]``, then ``credsStore``, then ``auths``."""
    helpers = config.get("credHelpers") or {}
    wanted = _host_key(host)
    for key, helper in helpers.items() if isinstance(helpers, Mapping) else []:
        if _host_key(str(key)) == wanted:
            return run_helper(str(helper), host)
    found = _from_auths(config, host, where=where)
    if found is None and config.get("credsStore"):
        return run_helper(str(config["credsStore"]), host)
    return found


def _parse(raw: bytes | str, *, where: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError as err:
        raise errors.AuthError(f"{where} is not valid JSON: {err}") from err
    if not isinstance(parsed, dict):
        raise errors.AuthError(f"{where} must be a JSON object")
    return parsed


@dataclass
class DockerConfig:
    """A docker ``config.json`` path; re-parsed whenever its mtime or size changes."""

    path: str
    _cache: tuple[tuple[int, int], dict[str, Any]] | None = None

    def _load(self) -> dict[str, Any]:
        path = Path(os.path.expanduser(self.path))
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if self._cache is None or self._cache[0] != stamp:
                self._cache = (stamp, _parse(path.read_bytes(), where=str(path)))
        except OSError as err:
            raise errors.AuthError(f"cannot read docker config {path}: {err.strerror}") from err
        return self._cache[1]

    def lookup(self, host: str) -> Credentials | None:
        return lookup_config(self._load(), host, where=self.path)


@dataclass
class DockerConfigJSON:
    """``.dockerconfigjson`` data of a Secret: bytes/str/dict, or a callable fetching it."""

    data: bytes | str | Mapping[str, Any] | Callable[[], bytes | str | Mapping[str, Any]]
    where: str = "dockerconfigjson secret"

    def lookup(self, host: str) -> Credentials | None:
        data = self.data() if callable(self.data) else self.data
        config = dict(data) if isinstance(data, Mapping) else _parse(data, where=self.where)
        return lookup_config(config, host, where=self.where)


@dataclass
class Chain:
    sources: list[Source]

    def lookup(self, host: str) -> Credentials | None:
        for source in self.sources:
            found = source.lookup(host)
            if found:
                return found
        return None
