"""The delivery worker: routes events, sends queued notifications, retries, gives up,
spots outages.

``syncer.controller.Controller`` starts one ``Worker`` with the controller and stops it
with it; ``syncer sync`` calls ``drain`` before exiting instead. The queue is
``syncer.state``'s ``deliveries`` (filled by ``router.Router`` in the transactions
that record events), so what is not sent yet survives a restart. Each attempt is one
request bounded by the provider's ``timeout``; a failure worth retrying (no answer,
429, 5xx) goes back into the queue after an exponential backoff, or after the
receiver's ``Retry-After`` when it asks for longer; a refusal (other 4xx) or a delivery
older than ``notifications.maxAge`` is given up, logged and counted. Rollouts never wait
for any of it: they only write the queue.

The worker's thread routes the outbox into deliveries and hands out what is due; it
never sends. Each provider's due deliveries go to that provider's lane (``lanes``):
sent one after the other, oldest first, while other providers' lanes send side by
side, ``SENDERS`` at most at once. A receiver that is slow or down delays its own
deliveries only, and routing goes on meanwhile.

Each attempt runs inside ``Store.delivering`` (with shards: the app's shard is held and
not given back meanwhile) and is claimed first (``Store.claim_delivery``: with shards,
in the app's state, by this replica's term); another replica's claim that may still be
sending leaves the delivery alone, and an attempt whose outcome could not be recorded
is recorded later, never sent again from here.

The worker also turns a Git source or registry failing for ``unreachableAfter`` into
one ``unreachable`` history entry per outage (keyed by when it began), which the
router then delivers like any other event.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from typing import TYPE_CHECKING

from syncer import errors, metrics
from syncer.config import durations, model, secrets
from syncer.notify import lanes, message, providers, router, transport
from syncer.reconcile import decide
from syncer.state import records
from syncer.state import store as store_

if TYPE_CHECKING:
    # Only the kubernetes provider needs cluster clients; importing them costs every
    # command a second (see ``service.worker_for``).
    from syncer.notify import kube as kube_

log = logging.getLogger("syncer.notify")

BACKOFF_BASE = 1.0
"""Seconds before the first retry; doubled for each further one."""
BACKOFF_MAX = 600.0
"""Longest wait between attempts (10m), whatever the attempt count."""
RETRY_AFTER_MAX = 3600.0
"""Longest ``Retry-After`` honoured (1h): a receiver cannot park a delivery for days."""
BATCH = 50
"""Deliveries read from state at once (all providers' together)."""
SENDERS = 8
"""Requests in flight at once at most, each to another provider (one at a time per
provider): up to 8 receivers slow or down at once delay nobody else's deliveries."""
ROUTE_BATCH = 500
"""Events routed in one transaction."""
IDLE = 1.0
"""Seconds between looks at the outbox when nothing is due (an event waits at most this
long to be sent; the look is one indexed query), and a provider's rest after an attempt
failed (its other due deliveries are tried then, not at once)."""
FLUSH = 5.0
"""Seconds a stopping worker (and ``syncer sync`` at its end) keeps sending what is due,
including quick retries; what is left is sent by the next run."""
OUTAGE_CHECK = 15.0
"""Seconds between looks for inputs failing longer than ``unreachableAfter``."""
BUSY_NOTED = 10_000
"""Other replicas' claims remembered as logged (beyond that, logged again)."""
OUTAGE_STAGES = {"source": "Git source", "images": "registry"}
"""App error stages that mean an input cannot be read, and what to call them."""


def backoff(attempts: int, *, retry_after: float | None = None) -> float:
    """Seconds to wait after ``attempts`` failed attempts: 1s, 2s, 4s ... up to 10m,
    with up to 10% jitter, or longer when the receiver asked (``Retry-After``)."""
    wait = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    wait *= 1 + random.random() * 0.1
    if retry_after is not None:
        wait = max(wait, min(retry_after, RETRY_AFTER_MAX))
    return wait


class Worker:
    """Routes and sends the queued deliveries of one store under one config."""

    def __init__(
        self,
        *,
        config: model.Config,
        store: store_.Store,
        routes: router.Router,
        read_secret: secrets.SecretReader | None = None,
        kube: kube_.KubeEvents | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.router = routes
        self.kube = kube
        self._read_secret = read_secret
        # Commit statuses need a Git repository; chart sources (Helm, OCI) have none.
        self._sources = {s.name: s.git.url for s in config.sources if s.git is not None}
        self._apps = {a.name: a for a in config.apps}
        self._sender = transport.Sender()
        self._lanes = lanes.Lanes(size=SENDERS, name="notify-send")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._rests = lanes.Rests(wake=self._wake, rest=IDLE)
        self._lock = threading.Lock()
        """Held while due deliveries are read and handed out: one reader at a time, so a
        free lane's deliveries are read while nothing sends them."""
        self._thread: threading.Thread | None = None
        self._unrecorded: dict[str, transport.Result] = {}
        """Attempts made whose outcome could not be recorded yet (by delivery id)."""
        self._busy: set[tuple[str, str]] = set()
        """(delivery, holder) claims of other replicas already logged as waited for."""

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="notify", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the outbox and the queue now (an event was just recorded)."""
        self._wake.set()

    def stop(self, *, timeout: float = 15.0, flush: float = FLUSH) -> None:
        """Stop after the attempts in flight (each bounded by its provider's timeout;
        waited for up to ``timeout`` seconds), then send for up to ``flush`` seconds what
        is due; the rest waits in state."""
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            # Never started (a standby replica, a read-only command): it sends nothing
            # more (``drain`` waited for what it sent).
            self._close()
            return
        stopping = time.monotonic()
        self._thread.join(timeout)
        self._lanes.wait(timeout=timeout - (time.monotonic() - stopping))
        self._stop.clear()
        try:
            if flush > 0:
                self.drain(timeout=flush)
        except errors.SyncerError as err:
            log.warning("notifications not flushed: %s", err)
        finally:
            self._stop.set()
            self._close()

    def _close(self) -> None:
        self._lanes.close()
        self._sender.close()

    def _loop(self) -> None:
        checked = 0.0
        while not self._stop.is_set():
            self._wake.clear()  # a wake from now on (an event, a lane's end) is not missed
            wait = IDLE
            try:
                if time.monotonic() - checked >= OUTAGE_CHECK:
                    checked = time.monotonic()
                    self.check_outages()
                self.route()
                self._dispatch(self._rests)
                due = self.store.next_delivery_at()
                if due is not None and due > time.time():
                    wait = min(IDLE, due - time.time())
                # Due now but not handed out (its lane busy or resting, another
                # replica's claim): a lane's end wakes this, else it is looked at in a
                # moment, not at once.
            except errors.SyncerError as err:
                log.warning("notifications: %s", err)
            except Exception:
                log.exception("notifications: unexpected error; going on")
            self._wake.wait(wait)

    def drain(self, *, timeout: float) -> int:
        """Send until nothing is due within ``timeout`` seconds (``syncer sync``, which
        exits after); returns how many deliveries still wait."""
        deadline = time.monotonic() + timeout
        while True:
            self.route()
            sent = self._pass(deadline=deadline)
            due = self.store.next_delivery_at()
            if due is None:
                return 0
            left = deadline - time.monotonic()
            if due - time.time() > left or left <= 0:
                return len(self.store.due_deliveries(now=float("inf"), limit=1_000_000))
            wait = due - time.time()
            if not sent:
                # What is due may be another replica's to send (claimed, shard moving):
                # look again in a moment rather than at once.
                wait = max(wait, IDLE)
            time.sleep(max(0.0, min(left, wait)))

    # --- routing and sending ------------------------------------------------------------
    def route(self) -> int:
        """Turn the events waiting in the outbox into deliveries; returns how many."""
        queued = 0
        while True:
            routed = self.store.route_events(
                route=self.router.route, limit=ROUTE_BATCH,
                max_pending=self.config.notifications.max_queued,
            )  # fmt: skip
            for delivery in routed.queued:
                metrics.NOTIFICATIONS.labels(provider=delivery.provider, result="queued").inc()
            for delivery in routed.dropped:
                metrics.NOTIFICATIONS.labels(provider=delivery.provider, result="dropped").inc()
                log.error(
                    "notification queue full (notifications.maxQueued=%d): dropped delivery %s "
                    "to provider %s",
                    self.config.notifications.max_queued, delivery.id, delivery.provider,
                )  # fmt: skip
            queued += len(routed.queued)
            if routed.events < ROUTE_BATCH:
                return queued

    def send_due(self) -> int:
        """One pass over what is due now, providers side by side; returns how many were
        sent. A provider that fails is tried once in the pass, not once per delivery."""
        return self._pass(deadline=None)

    def _pass(self, *, deadline: float | None) -> int:
        done = lanes.Pass(deadline=deadline)
        try:
            while not self._stopping(deadline):
                done.next_round()
                self._dispatch(done)
                if not done.wait_round():
                    break  # nothing handed out, nothing running: nothing left for this pass
        finally:
            done.wait_all()  # a pass ends with its attempts (each within its timeout)
        return done.sent

    def _stopping(self, deadline: float | None) -> bool:
        return self._stop.is_set() or (deadline is not None and time.monotonic() >= deadline)

    def _dispatch(self, tracker: lanes.Tracker) -> None:
        """Hand each provider with deliveries due now (its lane free, not skipped by
        ``tracker``) its oldest due deliveries."""
        with self._lock:
            skip = tracker.skip() | self._lanes.busy()
            while not self._stopping(tracker.deadline):
                # Busy providers' deliveries are left out of the read: a slow receiver's
                # backlog never hides the others' due deliveries.
                due = self.store.due_deliveries(now=time.time(), limit=BATCH, skip=skip)
                by_provider: dict[str, list[records.Delivery]] = {}
                for delivery in due:
                    by_provider.setdefault(delivery.provider, []).append(delivery)
                for provider, deliveries in by_provider.items():
                    tracker.begin(provider)
                    lane = functools.partial(self._lane, deliveries, tracker=tracker)
                    if not self._lanes.start(provider, lane):
                        tracker.end(lanes.LaneEnd(provider=provider, sent=0, progressed=False))
                skip |= by_provider.keys()
                if len(due) < BATCH:
                    return

    def _lane(self, deliveries: list[records.Delivery], *, tracker: lanes.Tracker) -> None:
        """Send one provider's ``deliveries`` in order, until one fails (one receiver
        down costs one timeout per pass, not one per delivery)."""
        provider = deliveries[0].provider
        sent = 0
        failed = False
        try:
            for delivery in deliveries:
                if self._stopping(tracker.deadline):
                    break
                done = self._attempt(delivery)
                if done is None:
                    continue  # not this process's to send now
                sent += done
                if not done:
                    failed = True
                    break
        except errors.SyncerError as err:
            failed = True
            log.warning("notifications: provider=%s: %s", provider, err)
        except Exception:
            failed = True
            log.exception("notifications: provider=%s: unexpected error; going on", provider)
        finally:
            tracker.end(
                lanes.LaneEnd(provider=provider, sent=sent, progressed=sent > 0 and not failed)
            )

    def _attempt(self, delivery: records.Delivery) -> int | None:
        """Claim, send and record one delivery: 1 sent, 0 failed, None when it was not
        this process's to send (another replica's claim, a shard lost or given back)."""
        app = delivery.event.app
        try:
            with self.store.delivering(app) as mine:
                if not mine:
                    self._unrecorded.pop(delivery.id, None)
                    return None
                unrecorded = self._unrecorded.pop(delivery.id, None)
                if unrecorded is not None:
                    # Sent already; only its record failed: record it, never send again.
                    self._record(delivery, unrecorded)
                    return 1 if unrecorded.ok else 0
                provider = self.router.providers.get(delivery.provider)
                window = provider.timeout if provider is not None else 0.0
                claim = self.store.claim_delivery(delivery, window=window)
                if claim.verdict == records.BUSY:
                    if (delivery.id, claim.holder) not in self._busy:
                        if len(self._busy) > BUSY_NOTED:
                            self._busy.clear()
                        self._busy.add((delivery.id, claim.holder))
                        log.info(
                            "app=%s delivery=%s claimed by %s, who may still be sending it: "
                            "not sent here until that claim is stale", app, delivery.id,
                            claim.holder,
                        )  # fmt: skip
                    return None
                if claim.verdict != records.CLAIMED:
                    # Its outcome was recorded with the claim, not yet in the queue.
                    self.store.finish_delivery(delivery.id, state=claim.verdict)
                    return None
                claim.check()  # right before the request: still this replica's to send
                result = self._result(delivery)
                self._record(delivery, result)
                return 1 if result.ok else 0
        except errors.Fenced as err:
            log.info("app=%s delivery=%s not sent or recorded here: %s", app, delivery.id, err)
            return None

    def _result(self, delivery: records.Delivery) -> transport.Result:
        try:
            result = self._send(delivery)
        except secrets.SecretError as err:
            # The Secret or file may appear; the config cannot change under us.
            result = transport.Result(ok=False, error=str(err), retry=True)
        except errors.PermanentError as err:
            result = transport.Result(ok=False, error=str(err))
        except errors.SyncerError as err:
            result = transport.Result(ok=False, error=str(err), retry=True)
        return result

    def _record(self, delivery: records.Delivery, result: transport.Result) -> None:
        """Record an attempt's ``result``; when that fails, keep it to record again
        (the receiver may have the request: it is not sent a second time from here)."""
        try:
            self._finish(delivery, result)
        except records.ClaimLost:
            raise  # its new holder decides, from the claim, whether to send it again
        except (errors.SyncerError, errors.Fenced):
            self._unrecorded[delivery.id] = result
            raise

    def _finish(self, delivery: records.Delivery, result: transport.Result) -> None:
        where = f"delivery={delivery.id} provider={delivery.provider} event={delivery.event.kind}"
        if result.ok:
            self.store.finish_delivery(delivery.id, state=records.DELIVERED)
            metrics.NOTIFICATIONS.labels(provider=delivery.provider, result="delivered").inc()
            log.info("app=%s %s delivered", delivery.event.app, where)
            return
        age = time.time() - delivery.created_at
        if result.retry and age < self.config.notifications.max_age:
            wait = backoff(delivery.attempts + 1, retry_after=result.retry_after)
            self.store.finish_delivery(
                delivery.id, state=records.PENDING_DELIVERY, error=result.error,
                next_at=time.time() + wait,
            )  # fmt: skip
            metrics.NOTIFICATIONS.labels(provider=delivery.provider, result="retried").inc()
            log.warning(
                "app=%s %s failed (attempt %d), retrying in %.1fs: %s",
                delivery.event.app, where, delivery.attempts + 1, wait, result.error,
            )  # fmt: skip
            return
        self.store.finish_delivery(delivery.id, state=records.GAVE_UP, error=result.error)
        metrics.NOTIFICATIONS.labels(provider=delivery.provider, result="failed").inc()
        log.error(
            "app=%s %s given up after %d attempt(s): %s",
            delivery.event.app, where, delivery.attempts + 1, result.error,
        )  # fmt: skip

    def _send(self, delivery: records.Delivery) -> transport.Result:
        provider = self.router.providers.get(delivery.provider)
        if provider is None:
            raise errors.PermanentError(
                f"provider {delivery.provider!r} is no longer in notifications.providers"
            )
        event = delivery.event
        rule = self.router.rule_for(event, provider=provider.name, cluster=delivery.cluster)
        release = self.store.get_release(event.app, event.release_id) if event.release_id else None
        clusters = [delivery.cluster] if delivery.cluster else router.event_clusters(event)
        note = message.note(
            delivery=delivery, release=release, clusters=clusters,
            stages=self.router.stages(event, clusters=clusters),
            template=rule.template if rule is not None else "",
        )  # fmt: skip
        if provider.type == "kubernetes":
            if self.kube is None:
                raise errors.PermanentError(
                    f"kubernetes provider {provider.name}: no cluster access here"
                )
            self.kube.post(note)
            return transport.Result(ok=True)
        app = self._apps.get(event.app)
        request = providers.request(
            provider, note=note, resolve=self._resolve,
            source_url=self._sources.get(app.source, "") if app is not None else "",
        )  # fmt: skip
        return self._sender.send(request, timeout=provider.timeout)

    def _resolve(self, ref: model.SecretRef) -> str:
        return secrets.resolve(ref, base_dir=self.config.base_dir, read_secret=self._read_secret)

    # --- outages --------------------------------------------------------------------------
    def check_outages(self, *, now: float | None = None) -> int:
        """Record ``unreachable`` once per outage older than ``unreachableAfter``;
        returns how many were recorded now."""
        now = time.time() if now is None else now
        limit = self.config.notifications.unreachable_after
        recorded = 0
        for app in self.config.apps:
            for err in self.store.errors(app.name):
                what = OUTAGE_STAGES.get(err.stage)
                if err.cluster or what is None or err.message.startswith(decide.HELD_BACK):
                    continue
                if now - err.since < limit:
                    continue
                recorded += self.store.record(
                    app=app.name,
                    kind="unreachable",
                    message=f"{what} failing for {durations.format(round(now - err.since))}: "
                    f"{err.message}",
                    data={"input": err.stage, "since": err.since},
                    key=f"unreachable\0{app.name}\0{err.stage}\0{err.since!r}",
                )
        return recorded
