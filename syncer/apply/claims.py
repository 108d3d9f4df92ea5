"""Claims on objects a sync creates: two apps declaring the same new object cannot both
create it, even when their syncs run at once.

``sync`` claims, before its first write, every object it will create (absent when it
read the cluster), on the cluster's client that every app syncing there shares; a claim
held by another app fails the whole set with ``OwnershipConflict`` naming that app. A
claim lasts while the app declares the object: ``prune`` and ``remove`` release what
they delete, and a failed sync releases what it did not create. Objects created before
this process started carry the app's label, which ``prepared.check_ownership`` reads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from syncer.apply import errors, refs


class Claims:
    """Object identity -> the app that claimed it, for one cluster."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str, str, str], str] = {}

    def claim(self, *, app_name: str, objects: Iterable[refs.ObjectRef]) -> None:
        """Claim every object for app_name, or none when another app holds one."""
        wanted = list(objects)
        with self._lock:
            taken = [
                (ref, self._held[ref.identity])
                for ref in wanted
                if self._held.get(ref.identity, app_name) != app_name
            ]
            if taken:
                raise errors.OwnershipConflict(
                    "\n".join(
                        f"{ref} is being created by app {owner!r}; app {app_name!r} will not "
                        "touch it: remove it from one of the two apps"
                        for ref, owner in taken
                    )
                )
            for ref in wanted:
                self._held[ref.identity] = app_name

    def release(self, *, app_name: str, objects: Iterable[refs.ObjectRef]) -> None:
        """Drop app_name's claims on these objects (others' claims stay)."""
        with self._lock:
            for ref in objects:
                if self._held.get(ref.identity) == app_name:
                    del self._held[ref.identity]
