"""Which shard an app belongs to, and how many shards each live replica should hold.

Pure arithmetic, no I/O: ``syncer.server.shards`` (the Lease loop of ``syncer run
--shards``) asks ``shard_of`` where an app lives and ``plan`` what to take and what to
give back; ``syncer.controller`` marks the app a thread works on (``working_on``) so
that the fence asked before a cluster or state write knows whose shard Lease to check.

- An app's shard is a stable hash of its name: ``sha256(name)`` modulo the shard count,
  the same in every process and every release of syncer (never Python's ``hash``).
- Each live replica's quota is ``shards // replicas``, plus one for the first
  ``shards % replicas`` of them in name order: 16 shards over 3 replicas are 6, 5 and
  5, and every replica gets at least one while there are fewer replicas than shards.
- A replica takes free shards (unheld, released or expired) up to its quota, and marks
  the shards it holds above its quota for release (it lets them go once the work in
  flight on them has finished). Which free shard to take first is a rendezvous hash of
  (replica, shard), so replicas starting together reach for different shards.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
from collections.abc import Iterable, Iterator, Mapping

_APP: contextvars.ContextVar[str | None] = contextvars.ContextVar("syncer_app", default=None)


def shard_of(app: str, shards: int) -> int:
    """The shard of ``app`` among ``shards`` (stable across processes and versions)."""
    digest = hashlib.sha256(app.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def quota(*, me: str, members: Iterable[str], shards: int) -> int:
    """How many shards ``me`` should hold while ``members`` (with ``me``) are alive."""
    alive = sorted(set(members) | {me})
    base, extra = divmod(shards, len(alive))
    return base + (1 if alive.index(me) < extra else 0)


def _preference(me: str, shard: int) -> bytes:
    return hashlib.sha256(f"{me}\0{shard}".encode()).digest()


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a replica does this round: shards to take and shards to give back."""

    take: tuple[int, ...]
    release: tuple[int, ...]
    quota: int


def plan(
    *,
    me: str,
    members: Iterable[str],
    shards: int,
    holders: Mapping[int, str],
) -> Plan:
    """What ``me`` should do given the live ``members`` and who holds each shard now
    (``holders``: shard -> live holder; a shard missing there, or held by nobody, is
    free). Shards ``me`` holds beyond its quota are released highest preference last,
    so a replica keeps the shards it would have reached for anyway."""
    mine = sorted(s for s, holder in holders.items() if holder == me)
    want = quota(me=me, members=members, shards=shards)
    if len(mine) > want:
        order = sorted(mine, key=lambda s: _preference(me, s))
        return Plan(take=(), release=tuple(sorted(order[want:])), quota=want)
    free = [s for s in range(shards) if not holders.get(s)]
    free.sort(key=lambda s: _preference(me, s))
    return Plan(take=tuple(sorted(free[: want - len(mine)])), release=(), quota=want)


@contextlib.contextmanager
def working_on(app: str) -> Iterator[None]:
    """Mark ``app`` as what this thread (and threads it hands work to with
    ``contextvars.copy_context``) works on, for the shard fence."""
    token = _APP.set(app)
    try:
        yield
    finally:
        _APP.reset(token)


def current_app() -> str | None:
    """The app this thread works on (``working_on``), or None outside an app's work."""
    return _APP.get()
