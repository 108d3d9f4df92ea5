"""One shared ``Client`` per registry host, built on first use from plain settings.

``syncer.images`` and the CLI hold a ``Pool`` so every app polling the same registry
shares its tokens, rate limit and request counters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from registry import challenges, client, credentials, settings, transport


class Pool:
    def __init__(
        self,
        *,
        registries: Mapping[str, settings.ClientSettings] | None = None,
        credentials_for: Callable[[str], credentials.Source | None] | None = None,
        defaults: Callable[[str], settings.ClientSettings] | None = None,
        on_request: Callable[[str, str], None] | None = None,
        challenges_file: Path | None = None,
    ) -> None:
        """``registries`` by host; hosts not listed get ``defaults(host)`` (or defaults).

        ``on_request(host, kind)`` is called for every request sent (metrics).
        ``challenges_file``: where each registry's auth challenge is kept across restarts
        (``registry.challenges``); None learns them anew in each process.
        """
        self._book = challenges.ChallengeBook(challenges_file) if challenges_file else None
        self._registries = dict(registries or {})
        self._credentials_for = credentials_for
        self._defaults = defaults or (lambda host: settings.ClientSettings(host=host))
        self.counters = transport.Counters(listener=on_request)
        self._clients: dict[str, client.Client] = {}
        self._lock = threading.Lock()

    def client_for(self, host: str) -> client.Client:
        with self._lock:
            found = self._clients.get(host)
            if found is None:
                config = self._registries.get(host) or self._defaults(host)
                source = self._credentials_for(host) if self._credentials_for else None
                found = client.Client(
                    config, credentials_source=source, counters=self.counters, book=self._book
                )
                self._clients[host] = found
            return found

    def close(self) -> None:
        with self._lock:
            for found in self._clients.values():
                found.close()
            self._clients.clear()
