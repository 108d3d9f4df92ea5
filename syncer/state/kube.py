"""``KubeStore``: the ``Store`` kept in Secrets of one namespace of a Kubernetes cluster.

Opened by ``syncer.state.open_for`` when the config says ``state: {kubernetes: …}``, for
the controller and the CLI alike; the documents are read and written through
``syncer.state.kubeobjects`` (optimistic concurrency on ``resourceVersion``).

One Secret per app (``syncer-app-…``) holds everything about it: releases, rollouts
and their targets, what runs where, history and its notification outbox, inventories,
errors, the last run, rejections, approvals, holds, write-backs and, with shards, who
claimed each of its notifications' deliveries (``claim_delivery``). Every Store method
that changes an app is one read-modify-write of that one Secret, so what SQLite does in
one transaction stays all-or-nothing here (``begin_rollout`` records the rollout, its
targets and its history entry in one write, and returns the open rollout of the
release when a previous write already recorded it). Secrets beside it:
``syncer-state`` (an index: the next app number), ``syncer-polls`` (last-seen images
and Git heads) and ``syncer-deliveries`` (the notification queue).

Ids are ``app number << 32 | sequence``: unique across apps without a shared counter
on every write (the app number is taken once, when the app's Secret is created), and
increasing within an app. Ids below ``1 << 32`` came from a SQLite state
(``syncer state migrate``); an id is found by the app number's label, else by a scan.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, TypeVar

from syncer import errors
from syncer import release as release_mod
from syncer.apply import client as kube_client
from syncer.state import kubeobjects, records
from syncer.state import store as store_

log = logging.getLogger("syncer.state")

T = TypeVar("T")

INDEX = "syncer-state"
POLLS = "syncer-polls"
DELIVERIES = "syncer-deliveries"
APP_PREFIX = "syncer-app-"
NUMBER_LABEL = "syncer.dev/app-number"
OUTBOX_LABEL = "syncer.dev/outbox"
"""``waiting`` on an app's Secret while its outbox holds events (what routing lists)."""
APP_ANNOTATION = "syncer.dev/app"
ID_SHIFT = 32

HISTORY_KEPT = 1000
"""History entries kept per app (the newest), as the controller trims them anyway;
the size limit may trim more (oldest first)."""
ROLLOUTS_KEPT = 200
"""Finished rollouts kept per app (the newest); open ones are always kept."""
RELEASES_KEPT = 500
"""Releases kept per app (the newest), plus any a rollout, deployment or hold names."""
OUTBOX_MAX = 2000
"""Events waiting to be routed per app at most (a state nobody routes stops growing)."""
FINISHED_DELIVERIES_KEPT = 500
"""Delivered or abandoned notifications kept for ``deliveries()`` (the newest)."""
CLAIM_START = 5.0
"""Seconds after a delivery's claim was written within which its request must start;
a replica paused longer in between sends nothing (the claim lapses)."""
CLAIM_SLACK = 2.0
"""Seconds added to a claim's window for the outcome's write to land."""
FINISHED_CLAIMS_KEPT = 50
"""Outcomes of delivery claims kept in an app's document (the newest)."""
DELIVERY_APPS_REMEMBERED = 10_000
"""Deliveries whose app is remembered from their claim to their outcome's record."""


class KubeStore:
    """A ``Store`` in Secrets of ``namespace`` on the cluster of ``client``."""

    def __init__(
        self,
        *,
        client: kube_client.ClusterClient,
        namespace: str,
        max_bytes: int = kubeobjects.MAX_BYTES,
    ) -> None:
        self.objects = kubeobjects.Objects(client=client, namespace=namespace, max_bytes=max_bytes)
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._round = threading.local()
        """This thread's read round (``reading``): app, document, when it was read."""
        self._closed = False
        self._apps_by_number: dict[int, str] = {}
        self._apps_by_id: dict[int, str] = {}
        self._stamp: Callable[[str], dict[str, Any]] | None = None
        self._owns: Callable[[str], bool] = lambda _app: True
        self._attempts = records.Attempts()
        self._working: Callable[[str], contextlib.AbstractContextManager[bool]] = lambda _app: (
            contextlib.nullcontext(True)
        )
        self._claims_seen: dict[tuple[str, str, str, int], float] = {}
        """Other holders' delivery claims, when this process first saw each (on its
        own clock: a claim is stale after its window as measured here)."""
        self._claims_lock = threading.Lock()
        """Guards ``_claims_seen``: deliveries of several providers are claimed at once."""
        self._delivery_apps: dict[str, str] = {}
        """The app of each delivery claimed here, until its outcome is recorded."""
        # Reading the index first says at once when the namespace, the permissions or
        # the cluster are wrong, naming them, instead of at the first rollout.
        self.objects.update(INDEX, kind="index", new=lambda: {"nextApp": 1}, change=lambda d: None)

    @property
    def where(self) -> str:
        return self.objects.where

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.objects.close()

    def watch(self) -> None:
        """Serve reads from a watch of the state Secrets from now on (``syncer run``: its
        API, UI, metrics and polls read every app's state again and again); see
        ``kubeobjects``. Direct reads while the watch is not synced."""
        self.objects.watch()

    def add_guard(self, guard: Callable[[], None]) -> None:
        """Ask ``guard`` too before every write (a writer lock's fence)."""
        client = self.objects.client
        before = client.guard

        def both() -> None:
            if before is not None:
                before()
            guard()

        client.guard = both

    def shard(
        self,
        *,
        stamp: Callable[[str], dict[str, Any]],
        owns: Callable[[str], bool],
        working: Callable[[str], contextlib.AbstractContextManager[bool]] | None = None,
    ) -> None:
        """Sharded replicas (``syncer run --shards``): every write of an app's document
        carries ``stamp(app)`` (its shard Lease, holder and term; ``errors.Fenced`` when
        this replica does not hold it) and is refused when a later term of that shard
        wrote the app already; the notification queue is worked only for apps ``owns``
        says are this replica's, each delivery inside ``working(app)`` (the shard is not
        given back while one is in flight) and claimed in the app's document first."""
        self._stamp, self._owns = stamp, owns
        if working is not None:
            self._working = working

    # --- documents ----------------------------------------------------------------------
    @contextlib.contextmanager
    def reading(self, app: str) -> Iterator[None]:
        """Inside, this thread's reads of ``app`` reuse the document it read less than
        ``READ_ROUND_SECONDS`` ago: a reconcile asks a few dozen questions of one app
        (errors, holds, targets, deployments …), one GET answers them. A write by this
        store drops what was read, so the next read sees it."""
        previous = getattr(self._round, "app", None)
        self._round.app, self._round.doc, self._round.at = app, None, 0.0
        try:
            yield
        finally:
            self._round.app, self._round.doc = previous, None

    def _read(self, app: str) -> dict[str, Any]:
        in_round = getattr(self._round, "app", None) == app
        fresh = time.monotonic() - getattr(self._round, "at", 0.0) < store_.READ_ROUND_SECONDS
        if in_round and self._round.doc is not None and fresh:
            return dict(self._round.doc)
        started = time.monotonic()
        doc = self.objects.get(app_secret(app))
        data = doc.data if doc is not None else new_app(app, number=0)
        if in_round:
            self._round.doc, self._round.at = data, started
        return data

    def _change(self, app: str, change: Callable[[dict[str, Any]], T]) -> T:
        """Apply ``change`` to the app's document in one conditional write (the app's
        number is taken from the index only when its document is created)."""

        def apply(data: dict[str, Any]) -> T:
            self._apps_by_number[int(data["number"])] = app
            return change(_retain(data))

        self._forget(app)

        stamp = None
        if self._stamp is not None:
            mine = self._stamp(app)  # before any request: Fenced unless the shard is ours

            def stamp(data: dict[str, Any]) -> None:
                record_writer(
                    data, mine, now=time.time(), where=self.objects.describe(app_secret(app))
                )

        with self._lock_of(app_secret(app)):
            return self.objects.update(
                app_secret(app), kind="app",
                new=lambda: new_app(app, number=self._new_number()), change=apply,
                labels=_app_labels, annotations={APP_ANNOTATION: app[:250]}, shrink=_shrink,
                stamp=stamp,
            )  # fmt: skip

    def _forget(self, app: str) -> None:
        """Drop what this thread's read round holds of ``app`` (it is being written)."""
        if getattr(self._round, "app", None) == app:
            self._round.doc = None

    def _lock_of(self, name: str) -> threading.RLock:
        """One writer at a time per Secret in this process (others would only conflict);
        writes to different apps go on in parallel."""
        with self._locks_guard:
            return self._locks.setdefault(name, threading.RLock())

    def _new_number(self) -> int:
        def take(data: dict[str, Any]) -> int:
            number = int(data.get("nextApp", 1))
            data["nextApp"] = number + 1
            return number

        with self._lock_of(INDEX):
            return self.objects.update(INDEX, kind="index", new=lambda: {"nextApp": 1}, change=take)

    def _apps(self, selector: str = "") -> list[dict[str, Any]]:
        docs = [d.data for d in self.objects.list(kind="app", selector=selector)]
        for data in docs:
            self._apps_by_number[int(data["number"])] = data["app"]
        return docs

    def _app_of_id(self, some_id: int, *, what: str) -> str:
        """The app whose document holds rollout or target ``some_id``."""
        known = self._apps_by_id.get(some_id) or self._apps_by_number.get(some_id >> ID_SHIFT)
        if known is not None:
            return known
        number = some_id >> ID_SHIFT
        docs = self._apps(f"{NUMBER_LABEL}={number}") if number else []
        if not docs:
            docs = self._apps()  # ids from a SQLite state keep no number: look everywhere
        for data in docs:
            for ro in data["rollouts"]:
                if ro["id"] == some_id or any(t["id"] == some_id for t in ro["targets"]):
                    self._apps_by_id[some_id] = data["app"]
                    return str(data["app"])
        raise errors.PermanentError(f"no rollout {what} {some_id} in state ({self.where})")

    # --- releases ---------------------------------------------------------------------
    def put_release(
        self, release: release_mod.Release, *, event: records.NewEvent | None = None
    ) -> bool:
        if any(r["id"] == release.id for r in self._read(release.app)["releases"]):
            return False  # every reconcile offers its release: known, nothing to write

        def change(d: dict[str, Any]) -> bool:
            if any(r["id"] == release.id for r in d["releases"]):
                return False
            d["releases"].append(release.to_dict())
            if event is not None:
                insert_new(d, event)
            return True

        return self._change(release.app, change)

    def get_release(self, app: str, ref: str) -> release_mod.Release | None:
        ref = ref.strip().lower()
        if not ref:
            return None
        found = [r for r in self._read(app)["releases"] if r["id"].startswith(ref)]
        if len(found) > 1:
            raise errors.PermanentError(
                f"release prefix {ref!r} of app {app!r} is ambiguous: give more characters"
            )
        return release_mod.Release.from_dict(found[0]) if found else None

    def releases(self, app: str, *, limit: int = 50) -> list[release_mod.Release]:
        found = _newest_releases(self._read(app)["releases"])
        return [release_mod.Release.from_dict(r) for r in found[:limit]]

    def release_by_content(self, app: str, content: str) -> release_mod.Release | None:
        found = [r for r in self._read(app)["releases"] if r.get("content") == content]
        found.sort(key=lambda r: r["createdAt"])
        return release_mod.Release.from_dict(found[0]) if found else None

    def set_release_content(self, *, app: str, release_id: str, content: str) -> None:
        def change(d: dict[str, Any]) -> None:
            for r in d["releases"]:
                if r["id"] == release_id and not r.get("content"):
                    r["content"] = content

        self._change(app, change)

    # --- rollouts -----------------------------------------------------------------------
    def begin_rollout(
        self, *, app: str, release_id: str, clusters: Sequence[str], cause: str
    ) -> records.Rollout:
        def change(d: dict[str, Any]) -> records.Rollout:
            ro = begin(d, release_id=release_id, clusters=clusters, cause=cause, now=time.time())
            return rollout_of(d, ro)

        return self._change(app, change)

    def set_target(
        self,
        target_id: int,
        *,
        state: str,
        message: str = "",
        attempt: bool = False,
        event: records.NewEvent | None = None,
    ) -> records.Target:
        if state not in records.TARGET_STATES:
            raise ValueError(f"unknown target state {state!r}: one of {records.TARGET_STATES}")
        app = self._app_of_id(target_id, what="target")

        def change(d: dict[str, Any]) -> records.Target:
            now = time.time()
            ro, t = find_target(d, target_id, where=self.where)
            t.update(state=state, message=message, updatedAt=now,
                     finishedAt=None if state in records.OPEN_STATES else now)  # fmt: skip
            t["attempts"] += 1 if attempt else 0
            track_deployment(d, t, now=now)
            if not any(x["state"] in records.OPEN_STATES for x in ro["targets"]):
                ro["finishedAt"] = now
            if event is not None:
                insert_new(d, event)
            return target_of(d, ro, t)

        return self._change(app, change)

    def pin_rollback(
        self,
        *,
        app: str,
        stage: str,
        release_id: str,
        clusters: Sequence[str],
        leaving: Sequence[str],
        by: str,
        message: str,
    ) -> records.Hold:
        def change(d: dict[str, Any]) -> records.Hold:
            now = time.time()
            held = records.Hold(
                app=app, stage=stage, kind=records.PIN, release_id=release_id, by=by, at=now,
                reason="rollback",
            )  # fmt: skip
            for rid in leaving:
                d["rejected"][rid] = {"reason": f"rolled back by {by}", "at": now}
            insert_event(d, kind="rollback", release_id=release_id, message=message)
            put_hold(d, held)
            begin(d, release_id=release_id, clusters=clusters, cause="rollback", now=now)
            return held

        return self._change(app, change)

    def roll_back(self, *, target_id: int, to_release: str, reason: str) -> records.Rollout:
        app = self._app_of_id(target_id, what="target")

        def change(d: dict[str, Any]) -> records.Rollout:
            now = time.time()
            _ro, t = find_target(d, target_id, where=self.where)
            t.update(state=records.UNHEALTHY, message=reason, updatedAt=now, finishedAt=now)
            track_deployment(d, t, now=now)
            earlier = str((d["rejected"].get(t["release"]) or {}).get("reason", ""))
            if not records.rejected_automatically(earlier):
                d["rejected"][t["release"]] = {"reason": reason, "at": now}
            ro = begin(d, release_id=to_release, clusters=[t["cluster"]], cause="rollback", now=now)
            return rollout_of(d, ro)

        return self._change(app, change)

    def open_rollouts(self, app: str | None = None) -> list[records.Rollout]:
        docs = [self._read(app)] if app is not None else self._apps()
        found = [
            rollout_of(d, ro)
            for d in docs
            for ro in d["rollouts"]
            if any(t["state"] in records.OPEN_STATES for t in ro["targets"])
        ]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    def retry_targets(
        self, *, app: str, release_id: str, clusters: Sequence[str], reason: str
    ) -> list[str]:
        def change(d: dict[str, Any]) -> list[str]:
            now = time.time()
            supersede(d, release_id=release_id, clusters=clusters, now=now)
            retried: list[str] = []
            for cluster in clusters:
                mine = [
                    (ro, t) for ro in d["rollouts"] for t in ro["targets"]
                    if t["cluster"] == cluster and t["release"] == release_id
                ]  # fmt: skip
                if not mine:
                    continue
                ro, t = max(mine, key=lambda pair: pair[1]["id"])
                if t["state"] != records.FAILED:
                    continue
                t.update(state=records.PENDING, message=reason, updatedAt=now, finishedAt=None)
                ro["finishedAt"] = None
                retried.append(cluster)
            if retried:
                # One app-level entry, once per retry in a row (as the SQLite store).
                record_once(
                    d, kind="retry", release_id=release_id, cluster="",
                    message=f"retrying {release_id[:12]} on {', '.join(retried)} ({reason})",
                )  # fmt: skip
            return retried

        return self._change(app, change)

    def rollouts(self, app: str, *, limit: int = 50) -> list[records.Rollout]:
        d = self._read(app)
        found = sorted(d["rollouts"], key=lambda ro: ro["id"], reverse=True)[:limit]
        return [rollout_of(d, ro) for ro in found]

    def get_rollout(self, rollout_id: int) -> records.Rollout | None:
        try:
            app = self._app_of_id(rollout_id, what="")
        except errors.PermanentError:
            return None
        d = self._read(app)
        found = [ro for ro in d["rollouts"] if ro["id"] == rollout_id]
        return rollout_of(d, found[0]) if found else None

    def latest_targets(self, app: str) -> dict[str, records.Target]:
        d = self._read(app)
        newest: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        for ro in d["rollouts"]:
            for t in ro["targets"]:
                if t["state"] == records.SUPERSEDED:
                    continue
                if t["cluster"] not in newest or t["id"] > newest[t["cluster"]][1]["id"]:
                    newest[t["cluster"]] = (ro, t)
        return {c: target_of(d, ro, t) for c, (ro, t) in newest.items()}

    def targets_of_release(self, app: str, release_id: str) -> list[records.Target]:
        d = self._read(app)
        found = [
            target_of(d, ro, t)
            for ro in d["rollouts"]
            for t in ro["targets"]
            if t["release"] == release_id
        ]
        return sorted(found, key=lambda t: t.id)

    # --- what runs where ----------------------------------------------------------------
    def deployments(self, app: str) -> list[records.Deployment]:
        d = self._read(app)
        return [
            records.Deployment(
                app=app,
                cluster=c,
                release_id=x["release"],
                healthy=x["healthy"],
                last_healthy_release=x["lastHealthyRelease"],
                updated_at=x["updatedAt"],
                applied_at=x["lastAppliedAt"],
            )
            for c, x in sorted(d["deployments"].items())
        ]

    def last_healthy_release(self, app: str, *, exclude: Sequence[str] = ()) -> str | None:
        d = self._read(app)
        targets = [t for ro in d["rollouts"] for t in ro["targets"]]
        failed = (records.UNHEALTHY, records.ROLLED_BACK)
        bad = {t["release"] for t in targets if t["state"] in failed}
        bad |= set(d["rejected"]) | set(exclude)
        healthy: dict[str, float] = {}
        for t in targets:
            if t["state"] == records.HEALTHY and t["release"] not in bad:
                at = t["finishedAt"] or 0.0
                healthy[t["release"]] = max(healthy.get(t["release"], at), at)
        if not healthy:
            return None
        return max(healthy, key=lambda rid: healthy[rid])

    def reject(self, *, app: str, release_id: str, reason: str) -> None:
        def change(d: dict[str, Any]) -> None:
            d["rejected"][release_id] = {"reason": reason, "at": time.time()}

        self._change(app, change)

    def rejected(self, app: str) -> dict[str, str]:
        return {rid: x["reason"] for rid, x in self._read(app)["rejected"].items()}

    # --- history ------------------------------------------------------------------------
    def record(
        self,
        *,
        app: str,
        kind: str,
        message: str,
        release_id: str = "",
        cluster: str = "",
        data: dict[str, Any] | None = None,
        once: bool = False,
        key: str = "",
    ) -> bool:
        def change(d: dict[str, Any]) -> bool:
            if key:
                if key in d["eventKeys"]:
                    return False
                d["eventKeys"][key] = time.time()
            if once:
                return record_once(
                    d, kind=kind, release_id=release_id, cluster=cluster, message=message,
                    data=data,
                )  # fmt: skip
            insert_event(
                d, kind=kind, message=message, release_id=release_id, cluster=cluster, data=data
            )
            return True

        return self._change(app, change)

    def history(self, app: str, *, limit: int = 50) -> list[records.Event]:
        entries = self._read(app)["history"]
        return [event_of(app, e) for e in reversed(entries[-limit:] if limit > 0 else [])]

    def trim_history(self, app: str, *, keep: int) -> int:
        if len(self._read(app)["history"]) <= keep:
            return 0  # the usual case, after every reconcile: no write

        def change(d: dict[str, Any]) -> int:
            gone = max(0, len(d["history"]) - keep)
            del d["history"][:gone]
            return gone

        return self._change(app, change)

    # --- inventories --------------------------------------------------------------------
    def set_inventory(self, *, app: str, cluster: str, objects: Sequence[str]) -> None:
        def change(d: dict[str, Any]) -> None:
            kept = sorted(objects)
            was = d["inventories"].get(cluster)
            if was is None or was["objects"] != kept:
                d["inventories"][cluster] = {"objects": kept, "updatedAt": time.time()}

        self._change(app, change)

    def inventory(self, app: str, cluster: str) -> list[str] | None:
        found = self._read(app)["inventories"].get(cluster)
        return list(found["objects"]) if found is not None else None

    def inventories(self) -> dict[str, dict[str, list[str]]]:
        found: dict[str, dict[str, list[str]]] = {}
        for d in sorted(self._apps(), key=lambda d: d["app"]):
            for cluster, inv in d["inventories"].items():
                if inv["objects"]:
                    found.setdefault(d["app"], {})[cluster] = list(inv["objects"])
        return found

    # --- polls --------------------------------------------------------------------------
    def _polls(self, change: Callable[[dict[str, Any]], None]) -> None:
        with self._lock_of(POLLS):
            self.objects.update(POLLS, kind="polls", new=new_polls, change=change)

    def _read_polls(self) -> dict[str, Any]:
        doc = self.objects.get(POLLS)
        return doc.data if doc is not None else new_polls()

    def set_seen_image(self, *, repository: str, policy: str, tag: str, digest: str) -> None:
        def change(d: dict[str, Any]) -> None:
            was = d["images"].get(repository, {}).get(policy)
            if was is not None and (was["tag"], was["digest"]) == (tag, digest):
                return  # seen before: no write
            d["images"].setdefault(repository, {})[policy] = {
                "tag": tag, "digest": digest, "at": time.time(),
            }  # fmt: skip

        self._polls(change)

    def seen_image(self, repository: str, policy: str) -> records.SeenImage | None:
        found = self._read_polls()["images"].get(repository, {}).get(policy)
        if found is None:
            return None
        return records.SeenImage(
            repository=repository, policy=policy, tag=found["tag"], digest=found["digest"],
            at=found["at"],
        )  # fmt: skip

    def set_git_head(self, *, source: str, ref: str, commit: str) -> None:
        def change(d: dict[str, Any]) -> None:
            was = d["heads"].get(source, {}).get(ref)
            if was is not None and was["commit"] == commit:
                return  # seen before: no write
            d["heads"].setdefault(source, {})[ref] = {"commit": commit, "at": time.time()}

        self._polls(change)

    def git_head(self, source: str, ref: str) -> str | None:
        found = self._read_polls()["heads"].get(source, {}).get(ref)
        return str(found["commit"]) if found is not None else None

    def set_write_back(self, *, app: str, images: Sequence[str], branch: str, commit: str) -> None:
        def change(d: dict[str, Any]) -> None:
            was = d["writeBack"]
            if was is not None and (was["images"], was["branch"], was["commit"]) == (
                sorted(images), branch, commit,
            ):  # fmt: skip
                return  # recorded before: no write
            d["writeBack"] = {
                "images": sorted(images), "branch": branch, "commit": commit, "at": time.time(),
            }  # fmt: skip

        self._change(app, change)

    def write_back(self, app: str) -> records.WriteBack | None:
        found = self._read(app)["writeBack"]
        if found is None:
            return None
        return records.WriteBack(
            app=app, images=tuple(found["images"]), branch=found["branch"],
            commit=found["commit"], at=found["at"],
        )  # fmt: skip

    # --- errors and runs ----------------------------------------------------------------
    def set_error(self, *, app: str, cluster: str = "", stage: str, message: str) -> None:
        def change(d: dict[str, Any]) -> None:
            now = time.time()
            was = d["errors"].get(cluster)
            since = was["since"] if was is not None and was["message"] == message else now
            count = was["count"] + 1 if was is not None else 1
            d["errors"][cluster] = {
                "stage": stage, "message": message, "since": since, "count": count,
            }  # fmt: skip

        self._change(app, change)

    def clear_error(self, *, app: str, cluster: str = "") -> None:
        if cluster not in self._read(app)["errors"]:
            return  # nothing to clear: no write

        def change(d: dict[str, Any]) -> None:
            d["errors"].pop(cluster, None)

        self._change(app, change)

    def errors(self, app: str) -> list[records.AppError]:
        return [
            records.AppError(
                app=app,
                cluster=c,
                stage=x["stage"],
                message=x["message"],
                since=x["since"],
                count=x["count"],
            )
            for c, x in sorted(self._read(app)["errors"].items())
        ]

    def set_run(self, *, app: str, result: str, message: str, desired_release: str) -> None:
        now = time.time()
        outcome = {"result": result, "message": message, "desired_release": desired_release}

        def known(d: dict[str, Any]) -> bool:
            # Nothing new: the outcome is recorded, and (with shards) by this very holder
            # and term; a replica that took the app over records its term once.
            return records.same_outcome(self._run_of(app, d), **outcome) and self._mine(app, d)

        if known(self._read(app)):
            self._attempts.note(app, at=now, ok=result == "ok")  # no write
            return

        def change(d: dict[str, Any]) -> bool:
            if known(d):
                return False  # recorded meanwhile (the read above was a moment old)
            was = d["run"] or {}
            d["run"] = {
                "lastAttemptAt": now,
                "lastSuccessAt": now if result == "ok" else was.get("lastSuccessAt"),
                "result": result,
                "message": message,
                "desiredRelease": desired_release,
            }
            return True

        if self._change(app, change):
            self._attempts.forget(app)
        else:
            self._attempts.note(app, at=now, ok=result == "ok")

    def _mine(self, app: str, d: dict[str, Any]) -> bool:
        """Whether this replica, under its current term, is the last writer of the app's
        document (always without shards)."""
        if self._stamp is None:
            return True
        found = d.get("writers") or []
        mine = self._stamp(app)
        return bool(found) and _same_writer(found[-1], mine)

    def writer(self, app: str) -> dict[str, Any] | None:
        found = self._read(app).get("writers") or []
        return dict(found[-1]) if found else None

    def run(self, app: str) -> records.AppRun | None:
        return self._attempts.merge(self._run_of(app, self._read(app)))

    @staticmethod
    def _run_of(app: str, d: dict[str, Any]) -> records.AppRun | None:
        found = d["run"]
        if found is None:
            return None
        return records.AppRun(
            app=app, last_attempt_at=found["lastAttemptAt"],
            last_success_at=found["lastSuccessAt"], result=found["result"],
            message=found["message"], desired_release=found["desiredRelease"],
        )  # fmt: skip

    # --- approvals ----------------------------------------------------------------------
    def request_approval(self, *, app: str, stage: str, release_id: str) -> records.Approval:
        def change(d: dict[str, Any]) -> records.Approval:
            found = _approval(d, stage=stage, release_id=release_id)
            if found is None:
                found = {
                    "stage": stage, "release": release_id, "requestedAt": time.time(),
                    "approvedAt": None, "approvedBy": "",
                }  # fmt: skip
                d["approvals"].append(found)
                # Once per release and stage: a request asked again is the same request.
                insert_event(
                    d, kind="approval", release_id=release_id,
                    message=f"promotion of {release_id[:12]} into {stage} waits for approval",
                    data={"stage": stage},
                )  # fmt: skip
            return approval_of(app, found)

        return self._change(app, change)

    def approve(self, *, app: str, stage: str, by: str) -> records.Approval:
        def change(d: dict[str, Any]) -> records.Approval:
            waiting = [a for a in d["approvals"] if a["stage"] == stage and a["approvedAt"] is None]
            if not waiting:
                raise errors.PermanentError(
                    f"app {app!r} has no promotion waiting for approval into stage {stage!r}"
                )
            found = max(waiting, key=lambda a: a["requestedAt"])
            found.update(approvedAt=time.time(), approvedBy=by)
            insert_event(
                d, kind="approved", release_id=found["release"],
                message=f"promotion into {stage} approved by {by}",
                data={"stage": stage, "by": by},
            )  # fmt: skip
            return approval_of(app, found)

        return self._change(app, change)

    def reject_promotion(
        self, *, app: str, stage: str, release_id: str, by: str
    ) -> records.Approval:
        def change(d: dict[str, Any]) -> records.Approval:
            found = _approval(d, stage=stage, release_id=release_id)
            if found is None or found["approvedAt"] is not None:
                raise errors.PermanentError(
                    f"app {app!r} has no promotion of release {release_id[:12]} waiting for "
                    f"approval into stage {stage!r}"
                )
            reason = f"promotion into {stage} rejected by {by}"
            d["rejected"][release_id] = {"reason": reason, "at": time.time()}
            insert_event(
                d, kind="rejected", release_id=release_id,
                message=f"release {release_id[:12]}: {reason}",
            )  # fmt: skip
            return approval_of(app, found)

        return self._change(app, change)

    def approvals(self, app: str) -> list[records.Approval]:
        found = sorted(self._read(app)["approvals"], key=lambda a: -a["requestedAt"])
        return [approval_of(app, a) for a in found]

    # --- holds --------------------------------------------------------------------------
    def hold(
        self, *, app: str, stage: str, kind: str, release_id: str = "", by: str, reason: str = ""
    ) -> records.Hold:
        if kind not in records.HOLD_KINDS:
            raise ValueError(f"unknown hold {kind!r}: one of {records.HOLD_KINDS}")
        held = records.Hold(
            app=app, stage=stage, kind=kind, release_id=release_id, by=by, at=time.time(),
            reason=reason,
        )  # fmt: skip
        self._change(app, lambda d: put_hold(d, held))
        return held

    def holds(self, app: str) -> list[records.Hold]:
        found = sorted(self._read(app)["holds"], key=lambda h: (h["stage"], h["kind"]))
        return [hold_of(app, h) for h in found]

    def release_holds(self, *, app: str, stage: str | None, by: str) -> list[records.Hold]:
        if not any(stage is None or h.stage == stage for h in self.holds(app)):
            return []

        def change(d: dict[str, Any]) -> list[records.Hold]:
            lifted = [h for h in d["holds"] if stage is None or h["stage"] == stage]
            d["holds"] = [h for h in d["holds"] if h not in lifted]
            for h in sorted(lifted, key=lambda h: (h["stage"], h["kind"])):
                held = hold_of(app, h)
                insert_event(
                    d, kind="resume", release_id=held.release_id,
                    message=f"resumed by {by}: no longer {held.describe()}",
                    data={"stage": held.stage, "by": by, "was": held.kind},
                )  # fmt: skip
            return [hold_of(app, h) for h in sorted(lifted, key=lambda h: (h["stage"], h["kind"]))]

        return self._change(app, change)

    # --- notification deliveries --------------------------------------------------------
    def route_events(self, *, route: records.Route, limit: int, max_pending: int) -> records.Routed:
        queued: list[records.NewDelivery] = []
        dropped: list[records.NewDelivery] = []
        taken = 0
        # One LIST of the apps whose outbox is not empty (none, usually: one small answer).
        for d in sorted(self._apps(f"{OUTBOX_LABEL}=waiting"), key=lambda d: d["app"]):
            if not self._owns(d["app"]):
                continue  # another replica's app: its own worker routes it
            events = [records.Event.from_dict(e) for e in d["outbox"][: max(0, limit - taken)]]
            if not events:
                break
            # Deliveries first, then the outbox entries go: a crash between the two routes
            # the events again, and the deliveries' stable ids make that a no-op.
            self._queue(events, route=route, max_pending=max_pending, queued=queued,
                        dropped=dropped)  # fmt: skip
            ids = {e.id for e in events}

            def take(data: dict[str, Any], ids: set[int] = ids) -> None:
                data["outbox"] = [e for e in data["outbox"] if e["id"] not in ids]

            self._change(d["app"], take)
            taken += len(events)
        return records.Routed(events=taken, queued=queued, dropped=dropped)

    def _queue(
        self,
        events: list[records.Event],
        *,
        route: records.Route,
        max_pending: int,
        queued: list[records.NewDelivery],
        dropped: list[records.NewDelivery],
    ) -> None:
        made = [(event, delivery) for event in events for delivery in route(event)]

        def change(data: dict[str, Any]) -> tuple[list[Any], list[Any]]:
            ok: list[records.NewDelivery] = []
            no: list[records.NewDelivery] = []
            pending = sum(
                1 for x in data["deliveries"].values() if x["state"] == records.PENDING_DELIVERY
            )
            for event, delivery in made:
                if pending >= max_pending:
                    no.append(delivery)
                    continue
                if delivery.id in data["deliveries"]:
                    continue
                data["deliveries"][delivery.id] = {
                    "provider": delivery.provider, "cluster": delivery.cluster,
                    "event": event.to_dict(), "state": records.PENDING_DELIVERY, "attempts": 0,
                    "lastError": "", "createdAt": event.at, "nextAt": event.at, "doneAt": None,
                }  # fmt: skip
                pending += 1
                ok.append(delivery)
            return ok, no

        with self._lock_of(DELIVERIES):
            ok, no = self.objects.update(
                DELIVERIES, kind="deliveries", new=new_deliveries, change=change,
                shrink=_shrink_deliveries,
            )  # fmt: skip
        queued.extend(ok)
        dropped.extend(no)

    def _read_deliveries(self) -> dict[str, dict[str, Any]]:
        """The deliveries of this replica's apps (every one without sharding)."""
        doc = self.objects.get(DELIVERIES)
        found = dict(doc.data["deliveries"]) if doc is not None else {}
        return {i: x for i, x in found.items() if self._owns(str(x["event"].get("app", "")))}

    def due_deliveries(
        self, *, now: float, limit: int, skip: Collection[str] = ()
    ) -> list[records.Delivery]:
        found = [
            delivery_of(i, x)
            for i, x in self._read_deliveries().items()
            if x["state"] == records.PENDING_DELIVERY
            and x["nextAt"] <= now
            and x["provider"] not in skip
        ]
        return sorted(found, key=lambda x: (x.next_at, x.created_at))[:limit]

    def next_delivery_at(self) -> float | None:
        due = [
            float(x["nextAt"])
            for x in self._read_deliveries().values()
            if x["state"] == records.PENDING_DELIVERY
        ]
        return min(due) if due else None

    def delivering(self, app: str) -> contextlib.AbstractContextManager[bool]:
        return self._working(app)

    def claim_delivery(self, delivery: records.Delivery, *, window: float) -> records.Claim:
        """With shards, one attempt at ``delivery`` is claimed in its app's document
        before anything is sent, by a write stamped with this replica's term of the
        shard and conditional on the ``resourceVersion`` read (``_change``): a replica
        that lost the shard cannot claim (its stamp is refused), and of two replicas
        believing they hold it only one claim lands. Another holding's open claim makes
        the delivery ``BUSY`` until it is provably stale: its term is older than ours
        (the document refuses writes of older terms, so it is) and its window (the
        attempt's bound plus ``CLAIM_START`` and ``CLAIM_SLACK``) has passed on this
        process's clock since it was first seen here: by then its request has ended or
        its replica was stopped while sending (then the receiver may have it; the same
        ``X-Syncer-Delivery`` lets it drop the second)."""
        app = delivery.event.app
        if self._stamp is None:
            return records.Claim(verdict=records.CLAIMED)  # one writer: the state's lock
        mine = self._stamp(app)  # Fenced unless this replica holds the app's shard
        claimed_at = time.monotonic()
        span = CLAIM_START + window + CLAIM_SLACK

        def change(d: dict[str, Any]) -> records.Claim:
            claims = d.setdefault("claims", {})
            found = claims.get(delivery.id)
            if found is not None and found.get("done"):
                return records.Claim(verdict=str(found["done"]), holder=str(found["holder"]))
            if found is not None and not _same_holding(found, mine):
                key = (delivery.id, str(found["holder"]), *_term(found))
                with self._claims_lock:
                    first = self._claims_seen.setdefault(key, claimed_at)
                if not _older(found, mine) or claimed_at - first < float(found["window"]):
                    return records.Claim(verdict=records.BUSY, holder=str(found["holder"]))
                log.warning(
                    "app=%s delivery=%s claimed by %s under term %s and not recorded within "
                    "%.0fs: sending it again (the receiver may have it: same delivery id)",
                    app, delivery.id, found["holder"], found["term"], float(found["window"]),
                )  # fmt: skip
            claims[delivery.id] = {
                **{k: mine.get(k) for k in _CLAIM_STAMP}, "at": time.time(), "window": span,
                "done": "",
            }  # fmt: skip
            _trim_claims(claims)
            return records.Claim(verdict=records.CLAIMED, holder=str(mine["holder"]))

        claim = self._change(app, change)
        if claim.verdict == records.BUSY:
            return claim
        if len(self._delivery_apps) > DELIVERY_APPS_REMEMBERED:
            self._delivery_apps.clear()  # claims never finished here: read from the queue
        self._delivery_apps[delivery.id] = app  # its outcome is recorded next
        if claim.verdict != records.CLAIMED:
            return claim
        with self._claims_lock:
            self._claims_seen = {k: v for k, v in self._claims_seen.items() if k[0] != delivery.id}
        stamp = self._stamp

        def check() -> None:
            stamp(app)  # the shard still held and fresh here
            late = time.monotonic() - claimed_at
            if late > CLAIM_START:
                raise errors.Fenced(
                    f"app {app}: delivery {delivery.id} was claimed {late:.1f}s ago (more "
                    f"than {CLAIM_START:g}s): not sending under that claim"
                )

        return dataclasses.replace(claim, check=check)

    def _record_claim(self, delivery_id: str, *, state: str) -> None:
        """Record an attempt's outcome in the claim of its app's document, refused
        (``records.ClaimLost``) unless this replica's holding made the claim: a replica
        that lost the shard never marks what its successor owns."""
        if self._stamp is None:
            return
        app = self._delivery_apps.pop(delivery_id, None)
        if app is None:
            doc = self.objects.get(DELIVERIES)
            found = (doc.data["deliveries"] if doc is not None else {}).get(delivery_id)
            if found is None:
                return
            app = str(found["event"].get("app", ""))
        mine = self._stamp(app)

        def change(d: dict[str, Any]) -> None:
            claims = d.setdefault("claims", {})
            claim = claims.get(delivery_id)
            if claim is not None and claim.get("done"):
                return  # recorded already (its deliveries entry was not): repaired below
            if claim is None or not _same_holding(claim, mine):
                who = f"by {claim['holder']} under term {claim['term']}" if claim else "by nobody"
                raise records.ClaimLost(
                    f"app {app}: delivery {delivery_id} is claimed {who}, not by this "
                    f"replica's term {mine['term']}: not recording its outcome"
                )
            if state == records.PENDING_DELIVERY:
                del claims[delivery_id]  # the next attempt, anyone's, claims it anew
            else:
                claim.update(done=state, doneAt=time.time())
                _trim_claims(claims)

        self._change(app, change)

    def finish_delivery(
        self, delivery_id: str, *, state: str, error: str = "", next_at: float | None = None
    ) -> None:
        if state not in records.DELIVERY_STATES:
            raise ValueError(f"unknown delivery state {state!r}: one of {records.DELIVERY_STATES}")
        # With shards the claim in the app's document says first (fenced) who sent it.
        self._record_claim(delivery_id, state=state)

        def change(data: dict[str, Any]) -> None:
            now = time.time()
            found = data["deliveries"].get(delivery_id)
            if found is None:
                return
            found.update(
                state=state, attempts=found["attempts"] + 1, lastError=error,
                nextAt=next_at if next_at is not None else now,
                doneAt=None if state == records.PENDING_DELIVERY else now,
            )  # fmt: skip
            if state != records.PENDING_DELIVERY:
                trim_deliveries(data, keep=FINISHED_DELIVERIES_KEPT)

        with self._lock_of(DELIVERIES):
            self.objects.update(
                DELIVERIES, kind="deliveries", new=new_deliveries, change=change,
                shrink=_shrink_deliveries,
            )  # fmt: skip

    def deliveries(self, *, limit: int = 100) -> list[records.Delivery]:
        found = [delivery_of(i, x) for i, x in self._read_deliveries().items()]
        found.sort(key=lambda x: x.id)
        found.sort(key=lambda x: x.created_at, reverse=True)
        return found[:limit]


# --- the app document ------------------------------------------------------------------


def app_secret(app: str) -> str:
    """The Secret of an app: ``syncer-app-<name>``, with a hash when the name is not
    already a valid, short Secret name (names are unique, Secret names must be too)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", app.lower()).strip("-")[:200] or "app"
    if slug == app and len(slug) <= 200:
        return APP_PREFIX + slug
    return f"{APP_PREFIX}{slug}-{hashlib.sha256(app.encode()).hexdigest()[:10]}"


def new_app(app: str, *, number: int) -> dict[str, Any]:
    return {
        "schema": kubeobjects.SCHEMA, "app": app, "number": number, "seq": 0,
        "releases": [], "rollouts": [], "deployments": {}, "history": [], "outbox": [],
        "inventories": {}, "errors": {}, "run": None, "rejected": {}, "approvals": [],
        "holds": [], "writeBack": None, "eventKeys": {},
    }  # fmt: skip


def new_polls() -> dict[str, Any]:
    return {"schema": kubeobjects.SCHEMA, "images": {}, "heads": {}}


def new_deliveries() -> dict[str, Any]:
    return {"schema": kubeobjects.SCHEMA, "deliveries": {}}


def _app_labels(d: dict[str, Any]) -> dict[str, str]:
    labels = {NUMBER_LABEL: str(d["number"])}
    if d["outbox"]:
        labels[OUTBOX_LABEL] = "waiting"
    return labels


WRITERS_KEPT = 20
"""Entries of an app document's ``writers`` log kept (the newest)."""


def record_writer(d: dict[str, Any], stamp: dict[str, Any], *, now: float, where: str) -> None:
    """Note who writes the app's document (``writers``: one entry per holder and term,
    with the first and last write and a count), refusing with ``errors.Fenced`` a
    writer whose shard-Lease term is older than the last one that wrote it: a replica
    that lost the shard never writes over the one that took it over."""
    log_ = d.setdefault("writers", [])
    last = log_[-1] if log_ else None
    same_lease = last is not None and (last["lease"], last["shards"]) == (
        stamp["lease"], stamp["shards"],
    )  # fmt: skip
    if last is not None and same_lease and _term(last) > _term(stamp):
        raise errors.Fenced(
            f"{where} was written under term {last['term']} of {stamp['lease']} by "
            f"{last['holder']}, after this replica's term {stamp['term']}: writing nothing"
        )
    if last is not None and _same_writer(last, stamp):
        last["last"], last["writes"] = now, int(last["writes"]) + 1
        return
    log_.append({**stamp, "first": now, "last": now, "writes": 1})
    del log_[: max(0, len(log_) - WRITERS_KEPT)]


def _same_writer(last: dict[str, Any], stamp: dict[str, Any]) -> bool:
    return (last["lease"], last["shards"], last["holder"], _term(last)) == (
        stamp["lease"], stamp["shards"], stamp["holder"], _term(stamp),
    )  # fmt: skip


_CLAIM_STAMP = ("lease", "shards", "holder", "term", "leaseCreated")
"""What a delivery's claim keeps of the claiming replica's stamp."""


def _same_holding(claim: dict[str, Any], stamp: dict[str, Any]) -> bool:
    return (claim["lease"], claim["holder"], _term(claim)) == (
        stamp["lease"], stamp["holder"], _term(stamp),
    )  # fmt: skip


def _older(claim: dict[str, Any], stamp: dict[str, Any]) -> bool:
    """Whether ``claim`` was made under a term before ``stamp``'s (another shard Lease,
    after a change of the shard count, counts as older: the document was written since)."""
    if (claim["lease"], claim["shards"]) != (stamp["lease"], stamp["shards"]):
        return True
    return _term(claim) < _term(stamp)


def _trim_claims(claims: dict[str, Any]) -> None:
    """Keep every open claim and the newest ``FINISHED_CLAIMS_KEPT`` outcomes."""
    done = sorted((float(c.get("doneAt") or 0), i) for i, c in claims.items() if c.get("done"))
    for _at, i in done[: max(0, len(done) - FINISHED_CLAIMS_KEPT)]:
        del claims[i]


def _term(stamp: dict[str, Any]) -> tuple[str, int]:
    """A shard term in order: the Lease's creation first (a Lease deleted by hand and
    made again counts its transitions from 0, after every term of the one before; RFC
    3339 UTC times compare as strings), then its transitions."""
    return str(stamp.get("leaseCreated") or ""), int(stamp["term"])


def next_id(d: dict[str, Any]) -> int:
    d["seq"] += 1
    return (int(d["number"]) << ID_SHIFT) | int(d["seq"])


def _newest_releases(releases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = sorted(enumerate(releases), key=lambda pair: (pair[1]["createdAt"], pair[0]))
    return [r for _i, r in reversed(order)]


def _retain(d: dict[str, Any]) -> dict[str, Any]:
    """Apply the documented retention before a change (see the module constants)."""
    if len(d["history"]) > HISTORY_KEPT:
        del d["history"][: len(d["history"]) - HISTORY_KEPT]
    finished = [
        ro for ro in d["rollouts"]
        if not any(t["state"] in records.OPEN_STATES for t in ro["targets"])
    ]  # fmt: skip
    if len(finished) > ROLLOUTS_KEPT:
        old = {id(ro) for ro in sorted(finished, key=lambda ro: ro["id"])[:-ROLLOUTS_KEPT]}
        d["rollouts"] = [ro for ro in d["rollouts"] if id(ro) not in old]
    if len(d["releases"]) > RELEASES_KEPT:
        named = {t["release"] for ro in d["rollouts"] for t in ro["targets"]}
        named |= {x["release"] for x in d["deployments"].values()}
        named |= {x["lastHealthyRelease"] for x in d["deployments"].values()}
        named |= {h["release"] for h in d["holds"]}
        keep = {r["id"] for r in _newest_releases(d["releases"])[:RELEASES_KEPT]} | named
        d["releases"] = [r for r in d["releases"] if r["id"] in keep]
    return d


def _shrink(d: dict[str, Any]) -> bool:
    """Make room under the size limit: the oldest half of history goes (events still
    waiting in the outbox are kept there); False when there is no history left."""
    if not d["history"]:
        return False
    del d["history"][: max(1, len(d["history"]) // 2)]
    return True


def _shrink_deliveries(d: dict[str, Any]) -> bool:
    finished = sum(1 for x in d["deliveries"].values() if x["doneAt"] is not None)
    if not finished:
        return False
    trim_deliveries(d, keep=finished // 2)
    return True


def trim_deliveries(d: dict[str, Any], *, keep: int) -> None:
    done = sorted((x["doneAt"], i) for i, x in d["deliveries"].items() if x["doneAt"] is not None)
    for _at, i in done[: max(0, len(done) - keep)]:
        del d["deliveries"][i]


def insert_event(
    d: dict[str, Any],
    *,
    kind: str,
    message: str,
    release_id: str = "",
    cluster: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """Append to history, and to the outbox in the same write (see ``route_events``)."""
    entry = {
        "id": next_id(d), "at": time.time(), "kind": kind, "release": release_id,
        "cluster": cluster, "message": message,
        "data": json.loads(json.dumps(data or {}, default=str)),
    }  # fmt: skip
    d["history"].append(entry)
    if len(d["outbox"]) >= OUTBOX_MAX:
        log.error(
            "app=%s event=%s not queued for notifications: %d events wait already",
            d["app"], kind, len(d["outbox"]),
        )  # fmt: skip
        return
    d["outbox"].append({"app": d["app"], **entry})


def insert_new(d: dict[str, Any], event: records.NewEvent) -> None:
    insert_event(
        d, kind=event.kind, message=event.message, release_id=event.release_id,
        cluster=event.cluster, data=event.data,
    )  # fmt: skip


def record_once(
    d: dict[str, Any],
    *,
    kind: str,
    release_id: str,
    cluster: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> bool:
    """Append unless the app's newest entry for ``cluster`` is this one already."""
    last = next((e for e in reversed(d["history"]) if e["cluster"] == cluster), None)
    if last is not None and (last["kind"], last["message"]) == (kind, message):
        return False
    insert_event(d, kind=kind, message=message, release_id=release_id, cluster=cluster, data=data)
    return True


def begin(
    d: dict[str, Any], *, release_id: str, clusters: Sequence[str], cause: str, now: float
) -> dict[str, Any]:
    """Record the intent (see ``Store.begin_rollout``); the rollout it lands in."""
    supersede(d, release_id=release_id, clusters=clusters, now=now)
    open_ones = [
        ro for ro in d["rollouts"]
        if ro["release"] == release_id
        and any(t["state"] in records.OPEN_STATES for t in ro["targets"])
    ]  # fmt: skip
    if open_ones:
        ro = max(open_ones, key=lambda ro: ro["id"])
    else:
        ro = {"id": next_id(d), "release": release_id, "cause": cause, "createdAt": now,
              "finishedAt": None, "targets": []}  # fmt: skip
        d["rollouts"].append(ro)
        insert_event(
            d, kind="rollout", release_id=release_id,
            message=f"rollout of {release_id[:12]} to {', '.join(clusters)} ({cause})",
            data={"clusters": list(clusters), "cause": cause, "rollout": ro["id"]},
        )  # fmt: skip
    have = {t["cluster"] for t in ro["targets"] if t["state"] in records.OPEN_STATES}
    for cluster in clusters:
        if cluster in have:
            continue
        ro["targets"].append({
            "id": next_id(d), "cluster": cluster, "release": release_id,
            "state": records.PENDING, "attempts": 0, "message": "", "startedAt": now,
            "updatedAt": now, "finishedAt": None,
        })  # fmt: skip
    ro["finishedAt"] = None
    return ro


def supersede(d: dict[str, Any], *, release_id: str, clusters: Sequence[str], now: float) -> None:
    """Unfinished targets of other releases on these clusters: the newer intent wins."""
    for cluster in clusters:
        stale = sorted(
            (t for ro in d["rollouts"] for t in ro["targets"]
             if t["cluster"] == cluster and t["release"] != release_id
             and t["state"] in records.OPEN_STATES),
            key=lambda t: t["id"],
        )  # fmt: skip
        for t in stale:
            t.update(state=records.SUPERSEDED, message=f"superseded by {release_id[:12]}",
                     updatedAt=now, finishedAt=now)  # fmt: skip
            insert_event(
                d, kind="superseded", release_id=t["release"], cluster=cluster,
                message=f"superseded by release {release_id[:12]}",
            )  # fmt: skip


def find_target(
    d: dict[str, Any], target_id: int, *, where: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    for ro in d["rollouts"]:
        for t in ro["targets"]:
            if t["id"] == target_id:
                return ro, t
    raise errors.PermanentError(f"no rollout target {target_id} in state ({where})")


def track_deployment(d: dict[str, Any], t: dict[str, Any], *, now: float) -> None:
    """Keep ``deployments`` (what runs where) in step with target states."""
    if t["state"] not in (records.APPLIED, records.HEALTHY, records.UNHEALTHY):
        return
    healthy = t["state"] == records.HEALTHY
    prev = d["deployments"].get(t["cluster"])
    last_healthy = t["release"] if healthy else (prev["lastHealthyRelease"] if prev else "")
    applied = now if t["state"] == records.APPLIED else (prev or {}).get("lastAppliedAt")
    d["deployments"][t["cluster"]] = {
        "release": t["release"], "healthy": healthy, "lastHealthyRelease": last_healthy,
        "updatedAt": now, "lastAppliedAt": applied,
    }  # fmt: skip


def put_hold(d: dict[str, Any], held: records.Hold) -> None:
    d["holds"] = [
        h for h in d["holds"] if (h["stage"], h["kind"]) != (held.stage, held.kind)
    ] + [{"stage": held.stage, "kind": held.kind, "release": held.release_id, "by": held.by,
          "at": held.at, "reason": held.reason}]  # fmt: skip
    insert_event(
        d, kind=held.kind, release_id=held.release_id, message=held.describe(),
        data={"stage": held.stage, "by": held.by},
    )  # fmt: skip


def _approval(d: dict[str, Any], *, stage: str, release_id: str) -> dict[str, Any] | None:
    return next(
        (a for a in d["approvals"] if a["stage"] == stage and a["release"] == release_id), None
    )


# --- records from documents ------------------------------------------------------------


def target_of(d: dict[str, Any], ro: dict[str, Any], t: dict[str, Any]) -> records.Target:
    return records.Target(
        id=t["id"], rollout_id=ro["id"], app=d["app"], cluster=t["cluster"],
        release_id=t["release"], state=t["state"], attempts=t["attempts"],
        message=t["message"], started_at=t["startedAt"], updated_at=t["updatedAt"],
        finished_at=t["finishedAt"],
    )  # fmt: skip


def rollout_of(d: dict[str, Any], ro: dict[str, Any]) -> records.Rollout:
    targets = sorted(ro["targets"], key=lambda t: t["id"])
    return records.Rollout(
        id=ro["id"], app=d["app"], release_id=ro["release"], cause=ro["cause"],
        created_at=ro["createdAt"], finished_at=ro["finishedAt"],
        targets=tuple(target_of(d, ro, t) for t in targets),
    )  # fmt: skip


def event_of(app: str, e: dict[str, Any]) -> records.Event:
    return records.Event(
        id=e["id"], app=app, at=e["at"], kind=e["kind"], release_id=e["release"],
        cluster=e["cluster"], message=e["message"], data=e["data"],
    )  # fmt: skip


def approval_of(app: str, a: dict[str, Any]) -> records.Approval:
    return records.Approval(
        app=app, stage=a["stage"], release_id=a["release"], requested_at=a["requestedAt"],
        approved_at=a["approvedAt"], approved_by=a["approvedBy"],
    )  # fmt: skip


def hold_of(app: str, h: dict[str, Any]) -> records.Hold:
    return records.Hold(
        app=app, stage=h["stage"], kind=h["kind"], release_id=h["release"], by=h["by"],
        at=h["at"], reason=h["reason"],
    )  # fmt: skip


def delivery_of(delivery_id: str, x: dict[str, Any]) -> records.Delivery:
    return records.Delivery(
        id=delivery_id, provider=x["provider"], cluster=x["cluster"],
        event=records.Event.from_dict(x["event"]), state=x["state"], attempts=x["attempts"],
        last_error=x["lastError"], created_at=x["createdAt"], next_at=x["nextAt"],
        done_at=x["doneAt"],
    )  # fmt: skip
