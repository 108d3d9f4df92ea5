"""Faults a test injects into a cluster's API: latency, error statuses, 429, drops, cut
watches, and answers dripped one byte every ``seconds``.

proxy.py asks ``Faults.pick`` for every request before forwarding it to the apiserver;
RealCluster exposes ``set_fault`` / ``clear_faults``. A fault fires for matching requests (method,
path substring) with a probability, at most ``count`` times when a count is given.
"""

from __future__ import annotations

import dataclasses
import random
import threading

KINDS = ("latency", "status", "retry_after", "drop", "watch_cut", "drip")


@dataclasses.dataclass
class Fault:
    kind: str
    status: int = 503
    seconds: float = 0.0
    count: int | None = None
    probability: float = 1.0
    method: str | None = None
    path_contains: str | None = None
    hits: int = 0

    def matches(self, *, method: str, path: str, watch: bool) -> bool:
        if self.method and self.method.upper() != method:
            return False
        if self.path_contains and self.path_contains not in path:
            return False
        if self.kind == "watch_cut" and not watch:
            return False
        return self.count is None or self.hits < self.count


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._random = random.Random(0)

    def add(self, fault: Fault) -> Fault:
        if fault.kind not in KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; use one of {', '.join(KINDS)}")
        if not 0.0 <= fault.probability <= 1.0:
            raise ValueError("probability must be between 0.0 and 1.0")
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pick(self, *, method: str, path: str, watch: bool) -> list[Fault]:
        """Faults that fire for this request (each hit is counted)."""
        fired = []
        with self._lock:
            for fault in self._faults:
                if fault.matches(method=method, path=path, watch=watch) and (
                    self._random.random() < fault.probability
                ):
                    fault.hits += 1
                    fired.append(fault)
        return fired
