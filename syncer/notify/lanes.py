"""Side-by-side sending: one lane per receiver, a few threads for all of them.

``worker.Worker`` starts one job per provider that has deliveries due (the provider's
oldest due deliveries, sent one after the other); a provider whose job is still
running gets no second one, so each receiver sees one request at a time, in order,
and a receiver that is slow or down holds up only its own lane. Jobs run on at most
``size`` daemon threads, started as jobs come and kept for the next ones; more
providers than threads with work at once wait for a thread, oldest job first.
(``syncer.scheduling.AppQueue`` bounds reconciles the same way, but coalesces requests,
ranks them and retries failures by itself; a lane is handed the very deliveries it
sends, and a pass waits for its lanes to end.)

Who starts lanes keeps a ``Tracker``: ``Pass`` for one pass over what is due
(``Worker.send_due``, ``Worker.drain``), ``Rests`` for the worker's thread, which hands
out work again whenever a lane ends.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Protocol

log = logging.getLogger("syncer.notify")


class Lanes:
    """Runs ``job``s keyed by provider: one at a time per key, ``size`` at most at once."""

    def __init__(self, *, size: int, name: str) -> None:
        if size < 1:
            raise ValueError(f"lanes {name}: size must be at least 1, not {size}")
        self.size = size
        self._name = name
        self._cond = threading.Condition()
        self._jobs: collections.deque[tuple[str, Callable[[], None]]] = collections.deque()
        self._busy: set[str] = set()
        """Keys with a job queued or running."""
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def busy(self) -> set[str]:
        """The keys whose job is queued or running now."""
        with self._cond:
            return set(self._busy)

    def start(self, key: str, job: Callable[[], None]) -> bool:
        """Queue ``job`` in ``key``'s lane; False (nothing queued) while that lane has a
        job already or the lanes are closed."""
        with self._cond:
            if self._closed or key in self._busy:
                return False
            self._busy.add(key)
            self._jobs.append((key, job))
            if self._idle < len(self._jobs) and len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._serve, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._cond.notify()
        return True

    def wait(self, *, timeout: float, keys: Collection[str] | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the jobs of ``keys`` (default: all) to end;
        True when none is left."""

        def done() -> bool:
            return not (self._busy if keys is None else self._busy.intersection(keys))

        with self._cond:
            return self._cond.wait_for(done, timeout=max(0.0, timeout))

    def close(self) -> None:
        """Start no more jobs; jobs already queued still run, then the threads end."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._idle += 1
                    self._cond.wait()
                    self._idle -= 1
                if not self._jobs:
                    self._threads.remove(threading.current_thread())
                    return
                key, job = self._jobs.popleft()
            try:
                job()
            except Exception:
                # A job reports its own errors; this keeps the thread for the next job.
                log.exception("notifications: provider=%s: unexpected error; going on", key)
            finally:
                with self._cond:
                    self._busy.discard(key)
                    self._cond.notify_all()


@dataclasses.dataclass(frozen=True)
class LaneEnd:
    """What one provider's lane did with the deliveries it was handed."""

    provider: str
    sent: int
    progressed: bool
    """Something was sent and nothing failed: more of its due deliveries may go at once."""


class Tracker(Protocol):
    """Who started lanes (``send_due``'s pass, the worker's thread): which providers not
    to hand deliveries now, until when lanes may start attempts, what they did."""

    deadline: float | None
    """``time.monotonic()`` after which no attempt starts; None: until stopped."""

    def skip(self) -> set[str]: ...

    def begin(self, provider: str) -> None: ...

    def end(self, ended: LaneEnd) -> None: ...


class Pass:
    """One pass over what is due (``send_due``, ``drain``): each provider's lane is
    handed its due deliveries again as long as it sends them all; a provider that failed
    (or whose deliveries were not this process's to send) waits for the next pass."""

    def __init__(self, *, deadline: float | None) -> None:
        self.deadline = deadline
        self.sent = 0
        self._over: set[str] = set()
        self._running = 0
        self._ended = False
        self._cond = threading.Condition()

    def skip(self) -> set[str]:
        with self._cond:
            return set(self._over)

    def begin(self, provider: str) -> None:
        with self._cond:
            self._running += 1

    def end(self, ended: LaneEnd) -> None:
        with self._cond:
            self._running -= 1
            self.sent += ended.sent
            if not ended.progressed:
                self._over.add(ended.provider)
            self._ended = True
            self._cond.notify_all()

    def next_round(self) -> None:
        """Lanes ending from now on are waited for by ``wait_round``."""
        with self._cond:
            self._ended = False

    def wait_round(self) -> bool:
        """Wait until a lane of this pass ended (True: hand out again) or none runs."""
        with self._cond:
            self._cond.wait_for(lambda: self._ended or not self._running)
            return self._ended

    def wait_all(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._running)


class Rests:
    """The worker thread's lanes: a provider whose lane failed (or could send none of
    its deliveries) rests for ``rest`` seconds; every lane's end wakes the thread."""

    def __init__(self, *, wake: threading.Event, rest: float) -> None:
        self.deadline: float | None = None
        self._wake = wake
        self._rest = rest
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def skip(self) -> set[str]:
        now = time.monotonic()
        with self._lock:
            self._until = {p: t for p, t in self._until.items() if t > now}
            return set(self._until)

    def begin(self, provider: str) -> None:
        pass

    def end(self, ended: LaneEnd) -> None:
        if not ended.progressed:
            with self._lock:
                self._until[ended.provider] = time.monotonic() + self._rest
        self._wake.set()
