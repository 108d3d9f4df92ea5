"""Watches of syncer's objects: one LIST then WATCH per cluster and kind, shared by apps.

``syncer run`` (``syncer.reconcile.live.LiveParts.watch``) gives each cluster client whose
``driftSource`` is ``watch`` a ``Watches``. The first read of a kind there (``live.read``
for a drift check, ``wait.assess_all`` for a health re-check) starts an ``Informer`` for
it: a LIST of every object labelled ``app.kubernetes.io/managed-by=syncer`` in all
namespaces, then a WATCH from the list's resourceVersion with bookmarks, re-opened when
the server ends it, resumed after a broken connection with backoff, and listed again
when the resourceVersion expired (410 Gone). While an informer is synced, reads are
answered from its cache and cost no request; otherwise (kind not watchable, RBAC
forbids listing or watching cluster-wide, connection broken) the caller lists as it did
before, and ``status()`` says why.

Every change the watch brings in (and every difference a re-list finds) is judged
against what the owning app last wanted there (``expect``, set by ``drift``/``sync``):
when the live object no longer matches, ``notify(app)`` asks for a drift check of that
app at once. Status-only changes and syncer's own writes never do.

``Informer`` alone (one kind in one namespace, any label selector, no drift judging) is
also what keeps ``syncer run``'s cache of its state Secrets (``syncer.state.kubeobjects``).
"""

from __future__ import annotations

import copy
import json
import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

from syncer import errors as syncer_errors
from syncer.apply import client as client_mod
from syncer.apply import discovery, errors, health, ownership, refs
from syncer.apply.sync import unchanged

log = logging.getLogger(__name__)

SELECTOR = f"{ownership.MANAGED_BY_LABEL}={ownership.MANAGED_BY_VALUE}"
"""Only syncer's objects are listed, watched and cached."""
SYNC_WAIT = 5.0
"""Seconds the first read of a kind waits for its new watch to be filled (its LIST);
after that it lists by itself and the informer keeps going behind it."""
WATCH_SECONDS = (300, 600)
"""Server-side lifetime of one WATCH request, drawn at random (client-go's 5-10 min),
so that watches of many kinds are not re-opened together."""
BACKOFF = (1.0, 30.0)
"""Seconds before re-opening a broken watch: first, doubling up to the second."""
MAX_NAMESPACE_WATCHES = 100
"""Watches per cluster where kinds may only be watched namespace by namespace: each is a
connection and a thread; beyond it, kinds in further namespaces are listed."""
FORBIDDEN_RETRY = 300.0
"""Seconds before asking again after RBAC refused a LIST or WATCH (roles change)."""

# Informer states, as ``status()`` reports them.
STARTING, SYNCED, BROKEN, UNAVAILABLE = "starting", "synced", "reconnecting", "unavailable"

Identity = tuple[str, str, str, str]
Notify = Callable[[str], None]


class Informer:
    """One kind's LIST+WATCH on one cluster and the cache it feeds (thread-safe)."""

    def __init__(
        self,
        client: client_mod.ClusterClient,
        *,
        api_version: str,
        kind: str,
        changed: Callable[[dict[str, Any] | None, dict[str, Any] | None], None],
        namespace: str = "",
        sleep: Callable[[float], bool] | None = None,
        label_selector: str = SELECTOR,
        fallback: str = "drift checks list this kind",
    ) -> None:
        self.client = client
        self.api_version = api_version
        self.kind = kind
        self.namespace = namespace
        """"" for every namespace (one watch), else the one namespace watched."""
        self.label_selector = label_selector
        """What is listed, watched and cached (syncer's objects, unless told otherwise)."""
        self.fallback = fallback
        """What readers do while the cache is not synced, as the log says it."""
        self._changed = changed
        self._lock = threading.Condition()
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._by_app: dict[tuple[str, str], tuple[str, ...]] = {}
        """(namespace, app) -> names of its objects: a tuple, not a dict per app (most
        apps have one or a few objects of a kind in a namespace)."""
        self.state = STARTING
        self.reason = "starting"
        self.version = ""
        self.events = 0
        self.lists = 0
        self.restarts = 0
        self._stopping = threading.Event()
        self._sleep = sleep or self._stopping.wait
        self._stream: client_mod.WatchStream | None = None
        self._opened = False
        """The current WATCH was answered (so a break after it is a first failure)."""
        self._thread: threading.Thread | None = None

    # --- reading ------------------------------------------------------------------------
    @property
    def synced(self) -> bool:
        return self.state == SYNCED

    def owned(self, *, namespace: str, app_name: str) -> list[dict[str, Any]]:
        """Copies of the app's cached objects in ``namespace``."""
        with self._lock:
            names = self._by_app.get((namespace, app_name), ())
            return [copy.deepcopy(self._objects[(namespace, name)]) for name in names]

    def labelled(self, *, namespace: str, names: Collection[str]) -> list[dict[str, Any]]:
        """Copies of the cached objects of ``names`` in ``namespace``, any app's."""
        with self._lock:
            return [
                copy.deepcopy(obj)
                for name in names
                if (obj := self._objects.get((namespace, name))) is not None
            ]

    def holds(self, namespace: str, name: str) -> bool:
        """Whether the cache holds the object ``name`` in ``namespace`` ("": cluster-scoped)."""
        with self._lock:
            return (namespace, name) in self._objects

    def in_namespace(self, namespace: str) -> bool:
        """Whether the cache holds any object in ``namespace``."""
        with self._lock:
            return any(held == namespace for held, _app in self._by_app)

    def items(self) -> list[dict[str, Any]]:
        """Copies of every cached object."""
        with self._lock:
            return [copy.deepcopy(obj) for obj in self._objects.values()]

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.state == STARTING:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return self.state == SYNCED

    def count(self) -> int:
        """Objects in the cache."""
        with self._lock:
            return len(self._objects)

    # --- running ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.run,
            name=f"watch-{self.client.name}-{self.kind}-{self.namespace}",
            daemon=True,
        )
        self._thread.start()

    def stop(self, *, timeout: float = 5.0) -> None:
        self._stopping.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def run(self) -> None:
        """List, then watch until stopped; see the module docstring for what fails how."""
        relist = True
        failures = 0
        while not self._stopping.is_set():
            self._opened = False
            try:
                if relist:
                    self._list()
                    relist = False
                self._watch()
                failures = 0
            except errors.Gone:
                # History was compacted past our resourceVersion: start again from a LIST.
                log.info("watch expired cluster=%s kind=%s: listing again", self.client.name,
                         self.kind)  # fmt: skip
                self.restarts += 1
                relist = True
            except (errors.Unauthorized, errors.UnknownKind, errors.NotFound) as err:
                again = self.state == UNAVAILABLE and self.reason == _why(err)
                self._set(UNAVAILABLE, _why(err))
                self.restarts += 1
                relist = True
                # Said once as a warning; the same answer every few minutes is not news.
                (log.info if again else log.warning)(
                    "watch unavailable cluster=%s kind=%s: %s; %s instead (asking again in "
                    "%.0fs)",
                    self.client.name, self.kind, err, self.fallback, FORBIDDEN_RETRY,
                )  # fmt: skip
                self._sleep(FORBIDDEN_RETRY)
            except syncer_errors.SyncerError as err:
                # A watch that ran and then broke starts its backoff afresh.
                failures = 1 if self._opened else failures + 1
                self.restarts += 1
                delay = min(BACKOFF[1], BACKOFF[0] * 2 ** (failures - 1))
                if not self._stopping.is_set():
                    self._set(BROKEN, f"watch broken: {err}")
                    (log.warning if failures == 1 else log.info)(
                        "watch broken cluster=%s kind=%s: %s; %s until it is back (retry in "
                        "%.1fs)",
                        self.client.name, self.kind, err, self.fallback, delay,
                    )  # fmt: skip
                self._sleep(delay * random.uniform(0.8, 1.2))
            except Exception:
                # A bug here must not end the informer for good: say so, and start over.
                log.exception("watch failed cluster=%s kind=%s", self.client.name, self.kind)
                self._set(BROKEN, "watch failed (see the log)")
                relist = True
                self._sleep(BACKOFF[1])

    def _list(self) -> None:
        items, version = self.client.list_versioned(
            api_version=self.api_version, kind=self.kind, namespace=self.namespace,
            label_selector=self.label_selector,
        )  # fmt: skip
        self.lists += 1
        fresh = {_key(obj): _compact(obj) for obj in items}
        with self._lock:
            before, self._objects = self._objects, fresh
            self._by_app = {}
            for obj in fresh.values():
                self._index(obj)
            self.version = version
        # What changed while nobody watched (the first list only fills the cache).
        if self.lists > 1:
            for key in before.keys() | fresh.keys():
                old, new = before.get(key), fresh.get(key)
                if old is None or new is None or _version(old) != _version(new):
                    self._changed(old, new)
        self._set(SYNCED, "synced")

    def _watch(self) -> None:
        stream = self.client.watch(
            api_version=self.api_version,
            kind=self.kind,
            namespace=self.namespace,
            resource_version=self.version,
            label_selector=self.label_selector,
            timeout_seconds=random.randint(*WATCH_SECONDS),
        )
        self._stream = stream
        if self._stopping.is_set():
            stream.close()
            return
        self._set(SYNCED, "synced")
        self._opened = True
        for event in stream:
            self._event(event)
            if self._stopping.is_set():
                break

    def _event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type") or "")
        obj = event.get("object") or {}
        if kind == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise errors.Gone(f"cluster {self.client.name}: watch of {self.kind} expired")
            raise errors.ApiError(
                f"cluster {self.client.name}: watch of {self.kind}: {obj.get('message', obj)}",
                status=int(code or 0),
                reason=str(obj.get("reason") or ""),
            )
        version = _version(obj)
        if kind == "BOOKMARK":
            self.version = version or self.version
            return
        obj.setdefault("apiVersion", self.api_version)
        obj.setdefault("kind", self.kind)
        obj = _compact(obj)
        key = _key(obj)
        with self._lock:
            old = self._objects.get(key)
            if old is not None:
                self._unindex(old)
            if kind == "DELETED":
                self._objects.pop(key, None)
                new = None
            else:
                self._objects[key] = obj
                self._index(obj)
                new = obj
            self.version = version or self.version
            self.events += 1
        self._changed(old, new)

    def _index(self, obj: dict[str, Any]) -> None:
        namespace, name = _key(obj)
        key = (namespace, ownership.app_of(obj))
        names = self._by_app.get(key, ())
        if name not in names:
            self._by_app[key] = (*names, name)

    def _unindex(self, obj: dict[str, Any]) -> None:
        namespace, name = _key(obj)
        key = (namespace, ownership.app_of(obj))
        names = tuple(n for n in self._by_app.get(key, ()) if n != name)
        if names:
            self._by_app[key] = names
        else:
            self._by_app.pop(key, None)

    def _set(self, state: str, reason: str) -> None:
        with self._lock:
            if self.state != state and state == SYNCED:
                log.info(
                    "watch synced cluster=%s kind=%s objects=%d",
                    self.client.name, self.kind, len(self._objects),
                )  # fmt: skip
            self.state, self.reason = state, reason
            self._lock.notify_all()


class Watches:
    """Every informer of one cluster, started on first use; the client's ``watches``.

    A kind is watched in all namespaces at once when the credentials may list and watch
    it cluster-wide (asked once per kind by access review, ``client.allowed``), else
    per namespace the apps deploy it to (a chart installed with namespaced Roles), up to
    ``max_namespaces`` watches in all; beyond that, and where even that is not allowed,
    the kind is listed by each check as before."""

    def __init__(
        self,
        client: client_mod.ClusterClient,
        *,
        notify: Notify | None = None,
        progressed: Notify | None = None,
        sync_wait: float = SYNC_WAIT,
        max_namespaces: int = MAX_NAMESPACE_WATCHES,
    ) -> None:
        self.client = client
        self.notify = notify
        self.progressed = progressed
        """Called once for an app named by ``await_change`` when one of its objects changes."""
        self._awaiting: set[str] = set()
        self.sync_wait = sync_wait
        self.max_namespaces = max_namespaces
        self._informers: dict[tuple[str, str, str], Informer] = {}
        self._every: dict[tuple[str, str], Informer | None] = {}
        """Watches of every object of a kind (``every``); None where it may not be watched."""
        self._cluster_wide: dict[tuple[str, str], bool] = {}
        self._unwatchable: dict[tuple[str, str, str], str] = {}
        self._expected: dict[Identity, dict[str, Any]] = {}
        """What each object's app wants, with keys and short strings shared (``_compact``)."""
        self._by_app: dict[str, tuple[Identity, ...]] = {}
        self._lock = threading.Lock()
        self._stopped = False
        self.hits = 0
        """Reads answered from a synced cache."""
        self.misses = 0
        """Reads that had to list because the kind's watch was not synced."""

    # --- reads --------------------------------------------------------------------------
    def owned(
        self, *, api_version: str, kind: str, namespace: str, app_name: str
    ) -> list[dict[str, Any]] | None:
        """The app's objects of a kind in a namespace from the cache; None when the kind's
        watch is not synced (the caller reads the server, as without watches)."""
        informer = self.informer(api_version, kind, namespace)
        if informer is None or not informer.synced:
            with self._lock:
                self.misses += 1
            return None
        with self._lock:
            self.hits += 1
        return informer.owned(namespace=namespace, app_name=app_name)

    def labelled(
        self, *, api_version: str, kind: str, namespace: str, names: Collection[str]
    ) -> list[dict[str, Any]] | None:
        """The syncer-labelled objects of ``names`` (a kind, a namespace), any app's, from
        the cache; None when the kind's watch is not synced."""
        informer = self.informer(api_version, kind, namespace)
        if informer is None or not informer.synced:
            return None
        return informer.labelled(namespace=namespace, names=names)

    def informer(
        self, api_version: str, kind: str, namespace: str = "", *, wait: bool = True
    ) -> Informer | None:
        """The informer that holds a kind's objects in ``namespace``, started now when it
        is the first use (and waited for up to ``sync_wait`` unless not ``wait``); None
        when they cannot be watched (``status`` says why)."""
        with self._lock:
            if self._stopped or (api_version, kind, namespace) in self._unwatchable:
                return None
            known = self._informers.get((api_version, kind, ""))
            if known is None:
                known = self._informers.get((api_version, kind, namespace))
        if known is not None:
            return self._ready(known, wait=wait)
        try:
            resource = self.client.resource(api_version, kind)
            scope = self._scope(resource, namespace)
        except syncer_errors.SyncerError:
            return None  # not served (yet), or the cluster does not answer: list this time
        key = (api_version, kind, scope if scope is not None else namespace)
        with self._lock:
            found = self._informers.get(key)
            if found is None and key not in self._unwatchable:
                why = self._refusal(resource, scope)
                if why:
                    self._unwatchable[key] = why
                    log.warning(
                        "cluster=%s kind=%s%s not watched: %s; drift checks list it",
                        self.client.name, kind, f" namespace={namespace}" if namespace else "",
                        why,
                    )  # fmt: skip
                    return None
                found = Informer(self.client, api_version=api_version, kind=kind,
                                 namespace=key[2], changed=self._changed)  # fmt: skip
                self._informers[key] = found
                found.start()
        return self._ready(found, wait=wait) if found is not None else None  # lock released

    def every(self, api_version: str, kind: str) -> Informer | None:
        """The synced watch of every object of a kind in all namespaces, whoever made it
        (no label selector, no drift judging), started on first use without waiting for
        it; None while it is not synced, or where it may not be watched cluster-wide.
        What a sync asks of objects it does not own (does the app's namespace exist,
        does it hold a ResourceQuota) is answered here, not by a request per sync."""
        key = (api_version, kind)
        with self._lock:
            if self._stopped:
                return None
            asked = key in self._every
        if not asked:
            try:
                resource = self.client.resource(api_version, kind)
                wide = resource.watchable and self._scope(resource, "") == ""
            except syncer_errors.SyncerError:
                return None  # the cluster does not answer now: ask again next time
            with self._lock:
                if self._stopped:
                    return None  # stopped meanwhile: start nothing that would outlive it
                if key not in self._every:
                    started = None
                    if wide:
                        started = Informer(
                            self.client, api_version=api_version, kind=kind,
                            changed=lambda _old, _new: None, label_selector="",
                            fallback="syncs read it",
                        )  # fmt: skip
                        started.start()
                    self._every[key] = started
        with self._lock:
            known = self._every.get(key)
        return known if known is not None and known.synced else None

    def _scope(self, resource: discovery.Resource, namespace: str) -> str | None:
        """ "" when the kind is watched in every namespace at once, ``namespace`` when per
        namespace; None when it may not be watched (asked once per kind and namespace)."""
        key = (resource.api_version, resource.kind)
        with self._lock:
            wide = self._cluster_wide.get(key)
        if wide is None:
            wide = resource.watchable and self.client.allowed(
                verbs=("list", "watch"), resource=resource, namespace=""
            )
            with self._lock:
                self._cluster_wide[key] = wide
        if wide or not resource.namespaced:
            return "" if wide else None
        if self.client.allowed(verbs=("list", "watch"), resource=resource, namespace=namespace):
            return namespace
        return None

    def _refusal(self, resource: discovery.Resource, scope: str | None) -> str:
        """Why a kind (in a namespace) is not watched, "" when it is (caller holds the lock)."""
        if not resource.watchable:
            return "the API does not serve watch for this kind"
        if scope is None:
            return "RBAC forbids list and watch of it (cluster-wide and in this namespace)"
        if scope and sum(1 for k in self._informers if k[2]) >= self.max_namespaces:
            return f"already {self.max_namespaces} namespace watches on this cluster"
        return ""

    def _ready(self, informer: Informer, *, wait: bool) -> Informer:
        if wait:
            informer.wait_synced(self.sync_wait)
        return informer

    # --- what apps want, and telling them --------------------------------------------------
    def expect(self, app_name: str, objects: Iterable[dict[str, Any]]) -> None:
        """What ``app_name`` wants on this cluster now (its prepared objects), so that a
        watched change can be judged against it."""
        objects = list(objects)
        wanted = {refs.ObjectRef.of(obj).identity: _compact(obj) for obj in objects}
        with self._lock:
            for identity in set(self._by_app.get(app_name, ())) - wanted.keys():
                self._expected.pop(identity, None)
            self._expected.update(wanted)
            self._by_app[app_name] = tuple(wanted)
        # The kinds apps deploy are the kinds watched: from an app's first sync on.
        for api_version, kind, namespace in sorted(
            {(str(o["apiVersion"]), str(o["kind"]), _key(o)[0]) for o in objects}
        ):
            self.informer(api_version, kind, namespace, wait=False)

    def await_change(self, app_name: str) -> None:
        """Call ``progressed(app_name)`` once, at the next change of any of its objects
        (status included: a rollout waiting for its Deployment to become available) that
        leaves the object healthy, failed or gone."""
        with self._lock:
            self._awaiting.add(app_name)

    def _ends_wait(self, owner: str, new: dict[str, Any] | None) -> bool:
        """``owner`` awaits a change and this one may end its wait. An object still
        progressing by its own verdict can make its app neither healthy nor failed, so
        it brings no look: a Deployment's rollout changes its status several times on
        the way (each look was a pass of the app); the look scheduled for the end of the
        wait still comes."""
        with self._lock:
            if owner not in self._awaiting:
                return False
        if new is not None and health.assess(new).status == health.PROGRESSING:
            return False
        with self._lock:
            if owner not in self._awaiting:
                return False  # another kind's change took it meanwhile
            self._awaiting.discard(owner)
        return True

    def _changed(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        owner = ownership.app_of(new or {}) or ownership.app_of(old or {})
        if owner and self.progressed is not None and self._ends_wait(owner, new):
            self.progressed(owner)
        app_name = self.drifted(old, new)
        if app_name and self.notify is not None:
            log.info(
                "watch: %s changed on cluster=%s: drift check for app=%s",
                refs.describe(new or old or {}), self.client.name, app_name,
            )  # fmt: skip
            self.notify(app_name)

    def drifted(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> str:
        """The app whose object ``old`` became ``new`` (None: deleted) and no longer
        matches what the app wants; "" when it still does or nobody owns it."""
        app_name = ownership.app_of(old or {}) or ownership.app_of(new or {})
        if not app_name:
            return ""
        identity = refs.ObjectRef.of(new or old or {}).identity
        with self._lock:
            desired = self._expected.get(identity)
            known_app = app_name in self._by_app
        if new is None:
            # Deleted: drift if the app still wants it (or has not said what it wants).
            return app_name if desired is not None or not known_app else ""
        if old is not None and _content(old) == _content(new):
            return ""  # status or bookkeeping only (a controller at work)
        if desired is None:
            return "" if known_app else app_name
        if ownership.app_of(new) != ownership.app_of(desired):
            return app_name  # relabelled: it left the app
        return "" if unchanged(self.client, live=new, desired=desired) else app_name

    # --- lifecycle and status ----------------------------------------------------------------
    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            informers = [*self._informers.values(), *filter(None, self._every.values())]
        for informer in informers:
            informer.stop()

    def status(self) -> list[dict[str, Any]]:
        """One entry per kind watched for drift (``every``'s are a sync's shortcut, not
        reported): its state, why, objects cached, events, lists, restarts."""
        with self._lock:
            informers = list(self._informers.values())
            unwatchable = dict(self._unwatchable)
        found = [
            {
                "cluster": self.client.name, "apiVersion": i.api_version, "kind": i.kind,
                "namespace": i.namespace, "state": i.state, "reason": i.reason,
                "objects": i.count(), "events": i.events, "lists": i.lists, "restarts": i.restarts,
            }
            for i in informers
        ]  # fmt: skip
        found += [
            {
                "cluster": self.client.name, "apiVersion": api_version, "kind": kind,
                "namespace": namespace, "state": UNAVAILABLE, "reason": why, "objects": 0,
                "events": 0, "lists": 0, "restarts": 0,
            }
            for (api_version, kind, namespace), why in unwatchable.items()
        ]  # fmt: skip
        return sorted(found, key=lambda e: (e["kind"], e["apiVersion"], e["namespace"]))


IGNORED_METADATA = ("resourceVersion", "managedFields", "generation")


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without its status and the metadata every write changes."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in IGNORED_METADATA}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


SHARED_TEXT = 40
"""Strings up to this length are kept once for the whole cache (``_compact``)."""


SHARED_FIELD_SETS = 4096
"""Distinct ``fieldsV1`` sets kept to be shared (``_field_set``); past it they start over."""
_field_sets: dict[str, dict[str, Any]] = {}
_field_sets_lock = threading.Lock()


def _compact(value: Any) -> Any:
    """``value`` with its keys, and its short strings, kept once per process
    (``sys.intern``): each watch event is decoded on its own, so without this every
    cached object holds its own copy of ``metadata``, ``f:spec``, ``FieldsV1``, ``Apply``
    ... about a third of its size. The cache is most of what syncer keeps per app.
    Cached objects are never handed out (reads get copies), so parts may be shared."""
    if isinstance(value, dict):
        return {
            sys.intern(k) if isinstance(k, str) else k: (
                _field_set(v) if k == "fieldsV1" and isinstance(v, dict) else _compact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, str) and len(value) <= SHARED_TEXT:
        return sys.intern(value)
    return value


def _field_set(fields: dict[str, Any]) -> dict[str, Any]:
    """One copy per process of each set of fields a manager owns: the objects of
    thousands of apps made from the same manifests have the same sets (syncer's own
    apply), each a tree of small dicts about as large as the rest of the object."""
    key = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    with _field_sets_lock:
        found = _field_sets.get(key)
        if found is None:
            if len(_field_sets) >= SHARED_FIELD_SETS:
                _field_sets.clear()
            found = _field_sets[key] = _compact(fields)
        return found


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _version(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _why(err: BaseException) -> str:
    text = str(err)
    if isinstance(err, errors.Unauthorized):
        return f"RBAC forbids listing or watching it cluster-wide: {text}"
    return text
