"""When work happens: poll jobs on APScheduler, and a bounded, coalescing app queue.

``syncer.controller`` registers one interval job per Git repository and per image
repository (deduplicated across apps, jittered so that many apps do not poll in step)
and one drift job per app. A poll job that sees a change asks the ``AppQueue`` to
reconcile the apps concerned; webhooks and the API only call ``Jobs.trigger`` (move a
job's next run to now) or ``AppQueue.request``, never reconcile on their own thread. A
reconcile that had to poll a repository itself calls ``Jobs.postpone`` (its job runs one
interval later).

``AppQueue`` guarantees what reconciling needs:

- a bounded worker pool (``settings.workers``);
- one reconcile per app at a time: a request for a running app is remembered and runs
  once more right after it, a request for a queued app merges into it (bursts of
  webhooks coalesce into one run);
- work someone asked for goes first: a request for a reason in ``BACKGROUND`` (drift
  checks, gate re-checks, retries, the start-up pass) waits behind every other request
  (API, approvals, Git or image changes, which webhooks trigger), and a queued
  background run that gets such a request moves up;
- a failing app backs off exponentially (``BACKOFF_BASE`` doubling up to
  ``BACKOFF_MAX``) and is retried by itself, without delaying other apps;
- ``stop()`` lets in-flight reconciles finish and drops what has not started.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from apscheduler.executors.pool import ThreadPoolExecutor as JobExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("syncer.scheduling")

BACKOFF_BASE = 1.0
"""Seconds before the first retry of a failed app (doubles each failure)."""
BACKOFF_MAX = 300.0
"""Longest wait between retries of a failing app (5m, like a default poll interval)."""

BACKGROUND = frozenset({"drift", "gate", "retry", "startup"})
"""Reasons nobody waits for: they run when no other request is waiting."""

RunApp = Callable[[str, frozenset[str]], bool]
"""Reconciles one app given the reasons it was asked for; True when it succeeded."""


def backoff(failures: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_MAX) -> float:
    """Seconds to wait after ``failures`` consecutive failures (0 after none)."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * 2 ** (failures - 1)))


@dataclasses.dataclass(slots=True)
class _AppSlot:
    queued: bool = False
    running: bool = False
    reasons: set[str] = dataclasses.field(default_factory=set)
    again: set[str] = dataclasses.field(default_factory=set)
    failures: int = 0
    not_before: float = 0.0
    timer: threading.Timer | None = None
    ticket: int = 0
    """Which lane entry is current: moving up leaves a stale entry behind."""
    urgent: bool = False


class AppQueue:
    """Runs ``run(app, reasons)`` on a bounded pool, one at a time per app."""

    def __init__(
        self,
        *,
        workers: int,
        run: RunApp,
        backoff_base: float = BACKOFF_BASE,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._run = run
        self._base = backoff_base
        self._cap = backoff_max
        self._lock = threading.Condition()
        self._slots: dict[str, _AppSlot] = {}
        self._stopping = False
        self._workers = [
            threading.Thread(target=self._worker, name=f"reconcile-{n}", daemon=True)
            for n in range(workers)
        ]
        self._urgent: deque[tuple[str, int]] = deque()
        self._background: deque[tuple[str, int]] = deque()
        self._tickets = 0
        self._queued = 0
        """Apps queued and not yet taken by a worker."""
        for thread in self._workers:
            thread.start()

    # --- asking for work ----------------------------------------------------------------
    def request(self, app: str, reason: str, *, now: bool = False) -> bool:
        """Ask for a reconcile of ``app``; ``now`` skips its backoff (a person asked).

        Returns False when the queue is stopping (nothing will run).
        """
        with self._lock:
            if self._stopping:
                return False
            slot = self._slots.setdefault(app, _AppSlot())
            if slot.running:
                # Run once more after the current run: what triggered us may be newer
                # than what the running reconcile read.
                slot.again.add(reason)
                return True
            slot.reasons.add(reason)
            if slot.queued:
                if reason not in BACKGROUND and not slot.urgent:
                    self._enqueue(app, slot)  # moves up; the background entry goes stale
                return True  # coalesced into the queued run
            wait = 0.0 if now else slot.not_before - time.monotonic()
            if wait > 0:
                if slot.timer is None:
                    slot.timer = threading.Timer(wait, self._release, args=(app,))
                    slot.timer.daemon = True
                    slot.timer.start()
                return True
            self._enqueue(app, slot)
            return True

    def _enqueue(self, app: str, slot: _AppSlot) -> None:
        if slot.timer is not None:
            slot.timer.cancel()
            slot.timer = None
        if not slot.queued:
            self._queued += 1
        slot.queued = True
        self._tickets += 1
        slot.ticket = self._tickets
        slot.urgent = not slot.reasons <= BACKGROUND
        (self._urgent if slot.urgent else self._background).append((app, slot.ticket))
        self._lock.notify()

    def _release(self, app: str) -> None:
        """A backoff timer ran out: queue the waiting request."""
        with self._lock:
            slot = self._slots.get(app)
            if slot is None:
                return
            slot.timer = None
            if not self._stopping and not slot.queued and not slot.running and slot.reasons:
                self._enqueue(app, slot)

    # --- doing the work -----------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            with self._lock:
                app, slot = self._next()
                if slot is None:
                    return
                slot.queued = False
                self._queued -= 1
                slot.running = True
                reasons = frozenset(slot.reasons)
                slot.reasons = set()
            ok = False
            try:
                ok = bool(self._run(app, reasons))
            except Exception:
                # A bug in one app's reconcile must not kill the worker or other apps.
                log.exception("app=%s reconcile crashed", app)
            with self._lock:
                slot.running = False
                if ok:
                    slot.failures = 0
                    slot.not_before = 0.0
                else:
                    slot.failures += 1
                    delay = backoff(slot.failures, base=self._base, cap=self._cap)
                    slot.not_before = time.monotonic() + delay
                    # Retry by itself: a cluster that comes back is caught up without
                    # waiting for the next poll to find a change.
                    slot.again.add("retry")
                    log.info("app=%s failed %d time(s); retry in %.1fs", app, slot.failures, delay)
                again, slot.again = slot.again, set()
                if ok and not again and not slot.reasons and not slot.queued:
                    # Nothing pending: an idle app keeps no slot (10,000 apps, 10,000 slots
                    # of two sets each otherwise); its stale lane entries are skipped.
                    del self._slots[app]
                self._lock.notify_all()
            for reason in sorted(again):
                self.request(app, reason)

    def _next(self) -> tuple[str, _AppSlot | None]:
        """The next queued app, urgent lane first (caller holds the lock); no slot when
        stopping."""
        while True:
            while not (self._urgent or self._background) and not self._stopping:
                self._lock.wait()
            if self._stopping:
                return "", None
            app, ticket = (self._urgent or self._background).popleft()
            slot = self._slots.get(app)
            if slot is not None and slot.queued and slot.ticket == ticket:
                return app, slot

    # --- observing and stopping ---------------------------------------------------------
    def failures(self, app: str) -> int:
        with self._lock:
            slot = self._slots.get(app)
            return slot.failures if slot else 0

    def crowded(self) -> bool:
        """Whether an app is queued that no worker has taken yet (the workers are all
        busy, or about to take it)."""
        return self._queued > 0

    def busy(self) -> bool:
        """Whether any app is queued or running (backoff waits do not count)."""
        with self._lock:
            return any(s.queued or s.running for s in self._slots.values())

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or running; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while any(s.queued or s.running for s in self._slots.values()):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def stop(self, *, timeout: float | None = None) -> None:
        """Finish in-flight reconciles, drop queued ones and pending retries."""
        with self._lock:
            self._stopping = True
            for slot in self._slots.values():
                if slot.timer is not None:
                    slot.timer.cancel()
                    slot.timer = None
                slot.queued = False
            self._urgent.clear()
            self._background.clear()
            self._lock.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._workers:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)


class Jobs:
    """Interval jobs on APScheduler that can be triggered now and never overlap.

    A trigger while the job runs is remembered and the job runs once more right after,
    so an event arriving mid-poll is never lost (APScheduler alone would skip it as
    "maximum number of running instances reached").
    """

    def __init__(self, *, threads: int = 4) -> None:
        self._scheduler = BackgroundScheduler(
            executors={"default": JobExecutor(max_workers=max(1, threads))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=datetime.UTC,
        )
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._rerun: set[str] = set()
        self._triggered: set[str] = set()
        """Jobs moved to now by ``trigger`` that have not started since: ``postpone``
        leaves them be (a webhook's poll is never put off)."""
        self._ids: dict[str, None] = {}
        """Job ids in the order added (a dict: 10,000 drift jobs are added at start)."""

    def add(
        self,
        job_id: str,
        *,
        every: float,
        func: Callable[[], object],
        jitter: float = 0.0,
        first_in: float | None = None,
        spread: bool = False,
    ) -> None:
        """Run ``func`` every ``every`` seconds (plus up to ``jitter`` times ``every``).
        ``spread``: the first run falls anywhere in the first interval, so that
        thousands of jobs added together (drift checks) run evenly, not in one herd."""
        if every <= 0:
            raise ValueError(f"job {job_id}: interval must be positive, got {every}")
        # The first run is spread too, so that jobs added together do not fire together.
        if spread:
            first = time.time() + random.uniform(0, every)
        else:
            first = time.time() + (every if first_in is None else first_in)
            first += random.uniform(0, every * jitter)
        self._scheduler.add_job(
            self._wrap(job_id, func),
            IntervalTrigger(seconds=every, jitter=every * jitter or None, timezone=datetime.UTC),
            id=job_id,
            name=job_id,
            next_run_time=datetime.datetime.fromtimestamp(first, tz=datetime.UTC),
            replace_existing=True,
        )
        self._ids.setdefault(job_id)

    def _wrap(self, job_id: str, func: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            with self._lock:
                self._triggered.discard(job_id)
                if job_id in self._running:
                    self._rerun.add(job_id)
                    return
                self._running.add(job_id)
            try:
                while True:
                    try:
                        func()
                    except Exception:
                        log.exception("job=%s failed", job_id)
                    with self._lock:
                        if job_id not in self._rerun:
                            self._running.discard(job_id)
                            return
                        self._rerun.discard(job_id)
            finally:
                with self._lock:
                    self._running.discard(job_id)

        return run

    def once(self, job_id: str, *, at: float, func: Callable[[], object]) -> None:
        """Run ``func`` once at Unix time ``at`` (replacing an earlier one of that id):
        gate evaluation when a soak ends or a window opens."""
        self._scheduler.add_job(
            self._wrap(job_id, func),
            "date",
            run_date=datetime.datetime.fromtimestamp(at, tz=datetime.UTC),
            id=job_id,
            name=job_id,
            replace_existing=True,
        )

    def trigger(self, job_ids: Iterable[str]) -> list[str]:
        """Move these jobs' next run to now; returns the ids that exist."""
        found = []
        now = datetime.datetime.now(datetime.UTC)
        for job_id in job_ids:
            with self._lock:
                if job_id in self._running:
                    self._rerun.add(job_id)
                    found.append(job_id)
                    continue
                # Under the lock: a ``postpone`` cannot move it back in between. A job
                # run once may fire and be gone meanwhile: then there is none to move.
                try:
                    self._scheduler.modify_job(job_id, next_run_time=now)
                except JobLookupError:
                    continue
                self._triggered.add(job_id)
            found.append(job_id)
        if found and self._scheduler.running:
            self._scheduler.wakeup()
        return found

    def postpone(self, job_id: str, *, done_at: float) -> None:
        """The work of interval job ``job_id`` was done at Unix time ``done_at`` by someone
        else (a reconcile polled the repository itself): its next run moves to one
        interval, plus jitter, after that. A run that ``trigger`` asked for, or one under
        way, is left as it is."""
        with self._lock:
            if job_id in self._triggered or job_id in self._running:
                return
            job = self._scheduler.get_job(job_id)
            if job is None or not isinstance(job.trigger, IntervalTrigger):
                return
            later = (
                done_at + job.trigger.interval_length + random.uniform(0, job.trigger.jitter or 0)
            )
            with contextlib.suppress(JobLookupError):  # removed meanwhile (a reload)
                self._scheduler.modify_job(
                    job_id, next_run_time=datetime.datetime.fromtimestamp(later, tz=datetime.UTC)
                )

    def remove(self, job_id: str) -> None:
        """Stop running this job (a run under way finishes); one already gone (a job run
        once that fired meanwhile) is no error."""
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(job_id)
        self._ids.pop(job_id, None)
        with self._lock:
            self._triggered.discard(job_id)

    def ids(self) -> list[str]:
        return list(self._ids)

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        """Stop firing; polls already running finish."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
