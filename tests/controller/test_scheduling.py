"""The app queue and poll jobs: bounded, one run per app, coalescing, backoff, triggers,
postponing."""

from __future__ import annotations

import threading
import time

import pytest
from apscheduler.jobstores.base import JobLookupError

from syncer import scheduling


class Recorder:
    def __init__(self, *, sleep: float = 0.0, fail: set[str] | None = None) -> None:
        self.sleep = sleep
        self.fail = fail or set()
        self.lock = threading.Lock()
        self.runs: list[tuple[str, frozenset[str]]] = []
        self.active: dict[str, int] = {}
        self.max_active = 0
        self.max_per_app = 0

    def __call__(self, app: str, reasons: frozenset[str]) -> bool:
        with self.lock:
            self.runs.append((app, reasons))
            self.active[app] = self.active.get(app, 0) + 1
            self.max_per_app = max(self.max_per_app, self.active[app])
            self.max_active = max(self.max_active, sum(self.active.values()))
        time.sleep(self.sleep)
        with self.lock:
            self.active[app] -= 1
        return app not in self.fail

    def count(self, app: str) -> int:
        with self.lock:
            return sum(1 for a, _ in self.runs if a == app)


def test_burst_of_requests_coalesces_and_never_overlaps() -> None:
    rec = Recorder(sleep=0.2)
    queue = scheduling.AppQueue(workers=4, run=rec)
    try:
        queue.request("web", "startup")
        time.sleep(0.05)  # running now
        for n in range(20):
            queue.request("web", f"webhook-{n}")
        assert queue.wait_idle(5)
        assert rec.count("web") == 2  # the running one, then one for the whole burst
        assert rec.max_per_app == 1
        assert len(rec.runs[1][1]) == 20
    finally:
        queue.stop()


def test_worker_pool_is_bounded() -> None:
    rec = Recorder(sleep=0.1)
    queue = scheduling.AppQueue(workers=2, run=rec)
    try:
        for n in range(6):
            queue.request(f"app{n}", "startup")
        assert queue.wait_idle(5)
        assert rec.max_active == 2
        assert len(rec.runs) == 6
    finally:
        queue.stop()


def test_crowded_while_an_app_waits_for_a_worker() -> None:
    """What a rollout asks before it holds its worker for a health wait."""
    gate = threading.Event()
    seen: list[bool] = []

    def run(app: str, reasons: frozenset[str]) -> bool:
        gate.wait(5)
        seen.append(queue.crowded())
        return True

    queue = scheduling.AppQueue(workers=2, run=run)
    try:
        assert not queue.crowded()
        queue.request("a", "startup")
        queue.request("b", "startup")
        queue.request("c", "startup")  # waits: both workers are taken
        deadline = time.monotonic() + 2
        while not queue.crowded() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert queue.crowded()
        queue.request("c", "webhook")  # coalesced: still one app waiting
        gate.set()
        assert queue.wait_idle(5)
        assert not queue.crowded()
        assert seen.count(True) >= 1  # a and b ran while c waited
        assert seen[-1] is False  # c ran with nothing behind it
    finally:
        queue.stop()


def test_failing_app_backs_off_and_retries_without_delaying_others() -> None:
    rec = Recorder(fail={"bad"})
    queue = scheduling.AppQueue(workers=1, run=rec, backoff_base=0.2, backoff_max=0.4)
    try:
        queue.request("bad", "startup")
        time.sleep(0.05)
        queue.request("good", "startup")
        time.sleep(0.05)
        assert rec.count("good") == 1  # not held up by bad's backoff
        time.sleep(1.2)
        # retried by itself: at 0.2s, then every 0.4s at most
        assert 3 <= rec.count("bad") <= 5
        assert queue.failures("bad") >= 3
    finally:
        queue.stop()


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [scheduling.backoff(n, base=1, cap=10) for n in range(6)] == [0, 1, 2, 4, 8, 10]


def test_a_person_asking_skips_the_backoff() -> None:
    rec = Recorder(fail={"bad"})
    queue = scheduling.AppQueue(workers=1, run=rec, backoff_base=30, backoff_max=30)
    try:
        queue.request("bad", "startup")
        time.sleep(0.1)
        queue.request("bad", "poll")
        time.sleep(0.1)
        assert rec.count("bad") == 1
        queue.request("bad", "api", now=True)
        time.sleep(0.2)
        assert rec.count("bad") == 2
    finally:
        queue.stop()


def test_stop_lets_in_flight_finish_and_drops_the_rest() -> None:
    rec = Recorder(sleep=0.3)
    queue = scheduling.AppQueue(workers=1, run=rec)
    queue.request("a", "x")
    time.sleep(0.05)
    queue.request("b", "x")
    queue.stop(timeout=5)
    assert [a for a, _ in rec.runs] == ["a"]
    assert rec.active["a"] == 0  # finished, not abandoned
    assert queue.request("c", "x") is False


def test_trigger_moves_a_job_to_now_and_reruns_when_busy() -> None:
    calls: list[float] = []
    gate = threading.Event()

    def poll() -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            gate.wait(2)

    jobs = scheduling.Jobs(threads=2)
    jobs.add("git:repo", every=3600, func=poll)
    jobs.start()
    try:
        assert jobs.trigger(["git:repo", "git:unknown"]) == ["git:repo"]
        deadline = time.monotonic() + 2
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(calls) == 1
        jobs.trigger(["git:repo"])  # while it runs: remembered
        jobs.trigger(["git:repo"])
        gate.set()
        time.sleep(0.3)
        assert len(calls) == 2
    finally:
        jobs.stop()


def test_requested_work_goes_ahead_of_background_checks() -> None:
    # One worker, busy; 30 drift checks queue up, then a webhook's image change and an
    # API sync arrive: they run next, not after the drift checks.
    gate = threading.Event()
    order: list[str] = []

    def run(app: str, reasons: frozenset[str]) -> bool:
        if app == "busy":
            gate.wait(5)
        order.append(app)
        return True

    queue = scheduling.AppQueue(workers=1, run=run)
    try:
        queue.request("busy", "startup")
        time.sleep(0.05)
        for n in range(30):
            queue.request(f"drift{n}", "drift")
        queue.request("pushed", "image:registry.example/web")
        queue.request("drift7", "api")  # a queued background run that a person asks for
        gate.set()
        assert queue.wait_idle(5)
        assert order[:3] == ["busy", "pushed", "drift7"]
        assert sorted(order[3:]) == sorted(f"drift{n}" for n in range(30) if n != 7)
        assert order.count("drift7") == 1  # moved up, not run twice
    finally:
        queue.stop()


def test_spread_jobs_first_run_anywhere_in_their_interval() -> None:
    jobs = scheduling.Jobs(threads=1)
    start = time.time()
    for n in range(100):
        jobs.add(f"drift:{n}", every=1000, spread=True, func=lambda: None)
    firsts = sorted(job.next_run_time.timestamp() - start for job in jobs._scheduler.get_jobs())
    # Without spreading, every first run falls in the last tenth (interval + jitter).
    assert firsts[0] < 500 < firsts[-1]
    assert firsts[-1] <= 1001


def test_job_ids_stay_in_the_order_added_once_each() -> None:
    jobs = scheduling.Jobs(threads=1)
    for name in ("git:a", "drift:web", "drift:api", "git:a"):  # re-added on a reload
        jobs.add(name, every=60, func=lambda: None)
    assert jobs.ids() == ["git:a", "drift:web", "drift:api"]
    jobs.remove("drift:web")
    assert jobs.ids() == ["git:a", "drift:api"]


def test_a_job_run_once_that_fires_while_it_is_removed_or_triggered_is_no_error() -> None:
    """A health look scheduled once can fire (and be gone) between a look-up and the
    removal or move that follows it: that ended a reconcile with JobLookupError."""
    jobs = scheduling.Jobs(threads=1)

    class Fired:
        """The scheduler as seen by a call racing the firing: found, then gone."""

        def get_job(self, job_id: str) -> object:
            return object()

        def remove_job(self, job_id: str) -> None:
            raise JobLookupError(job_id)

        def modify_job(self, job_id: str, **changes: object) -> None:
            raise JobLookupError(job_id)

    jobs._scheduler = Fired()  # type: ignore[assignment]
    jobs.remove("health:web")
    assert jobs.trigger(["health:web"]) == []


def test_postpone_moves_the_next_run_one_interval_after_the_work_done_elsewhere() -> None:
    jobs = scheduling.Jobs(threads=1)
    jobs.add("image:web", every=60, func=lambda: None)
    done_at = time.time() + 30  # a reconcile polled the repository half an interval in
    jobs.postpone("image:web", done_at=done_at)
    (job,) = jobs._scheduler.get_jobs()
    assert job.next_run_time.timestamp() == pytest.approx(done_at + 60, abs=0.01)
    jobs.postpone("drift:unknown", done_at=done_at)  # no such job: nothing happens


def test_postpone_never_puts_off_a_run_that_a_webhook_asked_for() -> None:
    ran = threading.Event()
    jobs = scheduling.Jobs(threads=1)
    jobs.add("image:web", every=3600, func=ran.set)
    assert jobs.trigger(["image:web"]) == ["image:web"]
    jobs.postpone("image:web", done_at=time.time())  # a poll that began before the push
    jobs.start()
    try:
        assert ran.wait(2), "the webhook's poll was put off"
        # Once it ran, work done elsewhere postpones the job again.
        jobs.postpone("image:web", done_at=time.time())
        (job,) = jobs._scheduler.get_jobs()
        assert job.next_run_time.timestamp() > time.time() + 3500
    finally:
        jobs.stop()
