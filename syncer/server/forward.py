"""Standby → leader: handing a request that only the leader can act on to the leader.

With shards, the same hop takes an API action on an app to the replica holding the
app's shard, and a webhook to every other live replica (each polls for its own apps).

With leader election, every replica serves HTTP but only the leader polls and rolls
out. ``syncer.server.http`` asks its ``LeaderView`` (the ``LeaderElector``) whether
another replica leads and where it answers; after a webhook or API POST has been
authenticated here, ``relay`` sends it on unchanged and the answer goes back to the
caller. The hop is marked (``FORWARDED_HEADER``) and a marked request is never
forwarded again, so two replicas that briefly both believe the other leads cannot
bounce a request between them.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Protocol

log = logging.getLogger("syncer.server")

TIMEOUT = 10.0
"""Seconds a standby waits for the leader's answer (a webhook sender waits longer)."""
FORWARDED_HEADER = "X-Syncer-Forwarded"
_HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailers", "transfer-encoding", "upgrade", "host", "content-length",
    }
)  # fmt: skip


class LeaderView(Protocol):
    """What the server needs of ``syncer.server.leader.LeaderElector`` (one replica
    acts) or ``syncer.server.shards.ShardSet`` (each acts on its shards' apps)."""

    @property
    def is_leader(self) -> bool: ...

    def leader_url(self) -> str | None: ...

    def owner_url(self, app: str) -> str | None:
        """Where a request about ``app`` is acted on, when not here."""
        ...

    def peers(self) -> list[str]:
        """Other replicas a webhook is relayed to as well (each acts on its own apps)."""
        ...

    def describe(self) -> str: ...


class LeaderUnreachable(Exception):
    """The leader did not answer (down, moving, network): the caller should retry."""


def relay(
    *,
    leader: str,
    method: str,
    path: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
) -> tuple[int, bytes, str]:
    """Send the request to ``leader`` (a base URL); (status, body, content type) of its
    answer, error statuses included. Raises ``LeaderUnreachable``."""
    request = urllib.request.Request(leader.rstrip("/") + path, data=body, method=method)
    for name, value in headers:
        if name.lower() not in _HOP_BY_HOP:
            request.add_header(name, value)
    if not request.has_header("Content-type"):
        # urllib would call a bodied request without one a form; keep it neutral.
        request.add_header("Content-Type", "application/octet-stream")
    request.add_header(FORWARDED_HEADER, "1")
    # Environment proxies are for the outside world, not for a pod-to-pod hop.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=TIMEOUT) as response:
            status, answer, answer_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as err:
        status, answer, answer_headers = err.code, err.read(), err.headers
    except (urllib.error.URLError, OSError) as err:
        log.warning("msg=leader did not answer a forwarded request leader=%s error=%s", leader, err)
        raise LeaderUnreachable(str(err)) from err
    log.info("msg=forwarded to leader path=%s leader=%s status=%s", path, leader, status)
    return status, answer, answer_headers.get("Content-Type") or "application/json"
