"""How each registry asked to authenticate, kept across restarts.

A process that starts knows no registry's scheme: its first request to each one goes
without credentials and meets a 401 whose ``WWW-Authenticate`` names the scheme and, for
Bearer, the token server (``registry.auth``). The book keeps that answer in a small JSON
file (beside the Git caches), so a restarted process goes straight to the token server
and sends its first request authorized: one request per repository, not one more per
registry.

Only the scheme, ``realm`` and ``service`` are kept: they are what the registry tells
anyone who asks, never a credential or a token. A remembered challenge is a hint: when
its token server no longer answers, ``registry.auth`` forgets it and asks the registry
again. An unreadable file is set aside with a warning, never an error.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from registry import auth

log = logging.getLogger(__name__)

VERSION = 1
KEPT = ("realm", "service")
"""Challenge parameters kept; ``scope`` is per request and not worth keeping."""


class ChallengeBook:
    """Registry host -> the challenge it last sent; thread-safe; written only on change."""

    def __init__(self, path: Path) -> None:
        """``path``: the JSON file, created on the first challenge."""
        self.path = path
        self._lock = threading.Lock()
        self._known: dict[str, auth.Challenge] = self._load()

    def get(self, host: str) -> auth.Challenge | None:
        with self._lock:
            return self._known.get(host)

    def keep(self, host: str, challenge: auth.Challenge | None) -> None:
        """What ``registry.auth`` learnt of ``host``: its challenge, or None when the one
        remembered failed (forgotten)."""
        kept = _kept(challenge) if challenge is not None else None
        with self._lock:
            if self._known.get(host) == kept:
                return
            if kept is None:
                del self._known[host]
            else:
                self._known[host] = kept
            self._save()

    def _load(self) -> dict[str, auth.Challenge]:
        try:
            raw = json.loads(self.path.read_text())
            if not isinstance(raw, dict) or raw.get("version") != VERSION:
                raise ValueError(f"not a version {VERSION} challenge book")
            found = raw["registries"]
            return {str(host): _parse(entry) for host, entry in found.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            log.warning(
                "msg=registry challenges not read; each registry is asked again file=%s "
                "error=%s",
                self.path, err,
            )  # fmt: skip
            return {}

    def _save(self) -> None:
        """Write the whole book atomically (lock held): a crash leaves the old file."""
        body = {
            "version": VERSION,
            "registries": {
                host: {"scheme": c.scheme, **c.params} for host, c in sorted(self._known.items())
            },
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            try:
                with os.fdopen(fd, "w") as out:
                    json.dump(body, out, indent=1)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as err:
            log.warning("msg=registry challenges not kept file=%s error=%s", self.path, err)


def _kept(challenge: auth.Challenge) -> auth.Challenge:
    return auth.Challenge(
        challenge.scheme, {k: v for k, v in challenge.params.items() if k in KEPT}
    )


def _parse(entry: Any) -> auth.Challenge:
    if not isinstance(entry, dict) or entry.get("scheme") not in ("basic", "bearer"):
        raise ValueError(f"unknown challenge {entry!r:.100}")
    params = {k: entry[k] for k in KEPT if isinstance(entry.get(k), str)}
    return auth.Challenge(entry["scheme"], params)
