"""Benchmark: notifications while one receiver is slow.

Run: ``python -m tests.bench.bench_notify [--seconds 10] [--rate 10] [--slow 2]``.
A real state file and two receivers on 127.0.0.1, both told of every event: a signed
webhook that answers ``--slow`` seconds late (its timeout one second more) and a
Slack-shaped one that answers at once. The worker runs on its own threads while events
are recorded at ``--rate`` per second for ``--seconds`` (``wake()`` after each, as the
controller does). Printed: events routed per second over the run, and per event the time from its
record to its deliveries being queued (routed) and to the fast receiver having it
(p50/p95/max), with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from syncer.config import loader
from syncer.notify import router, worker
from syncer.state import sqlite
from tests.servers import receivers

CONFIG = """
sources:
  - {name: deploy, git: {url: https://git.example.com/team/deploy.git, branch: main}}
clusters:
  - {name: dev, kubeconfig: kubeconfig}
apps:
  - {name: api, source: deploy, clusters: [dev]}
notifications:
  providers:
    - {name: slow, type: webhook, urlFrom: file:slow-url, secretFrom: file:slow-key,
       timeout: %(timeout)gs}
    - {name: chat, type: slack, urlFrom: file:chat-url}
  rules:
    - {providers: [slow, chat]}
"""


def spread(seconds: list[float]) -> str:
    if not seconds:
        return "none"
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered):.3f}s  p95 {p95:.3f}s  max {ordered[-1]:.3f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=10.0, help="events per second")
    parser.add_argument("--slow", type=float, default=2.0, help="the slow receiver's delay")
    args = parser.parse_args()
    slow, fast = receivers.Receiver(), receivers.Receiver()
    slow.delay = args.slow
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "slow-url").write_text(f"{slow.url}/hook")
        (work / "slow-key").write_text("k" * 16)
        (work / "chat-url").write_text(f"{fast.url}/services/x")
        text = CONFIG % {"timeout": args.slow + 1}
        config = loader.loads(text, filename=str(work / "syncer.yaml"), base_dir=str(work))
        store = sqlite.SqliteStore(work / "state.db")
        notifier = worker.Worker(config=config, store=store, routes=router.Router(config=config))
        recorded: dict[str, float] = {}
        routed: dict[str, float] = {}
        received: dict[str, float] = {}
        done = threading.Event()

        def watch() -> None:
            # Every 20 ms: which events have their deliveries queued, which reached chat.
            while not done.is_set():
                now = time.monotonic()
                for d in store.deliveries(limit=100_000):
                    routed.setdefault(d.event.message, now)
                for r in fast.accepted():
                    received.setdefault(r.json()["text"].split(": ", 1)[1], now)
                time.sleep(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        notifier.start()
        watcher.start()
        try:
            count = int(args.seconds * args.rate)
            began = time.monotonic()
            for n in range(count):
                time.sleep(max(0.0, began + n / args.rate - time.monotonic()))
                message = f"registry failing ({n})"
                recorded[message] = time.monotonic()
                store.record(app="api", kind="unreachable", message=message)
                notifier.wake()
            time.sleep(1.0)  # what was recorded last is routed (or not) meanwhile
        finally:
            ended = time.monotonic()
            done.set()
            watcher.join()
            notifier.stop(flush=0)
            store.close()
            slow.stop()
            fast.stop()
    route_times = [routed[m] - t for m, t in recorded.items() if m in routed]
    fast_times = [received[m] - t for m, t in recorded.items() if m in received]
    span = ended - began
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{count} events at {args.rate:g}/s for {args.seconds:g}s; slow receiver answers "
        f"after {args.slow:g}s; load average {load}"
    )
    print(
        f"routed within the run ({span:.1f}s): {len(route_times)}/{count}, "
        f"{len(route_times) / span:.1f}/s"
    )
    print(f"  record -> queued:           {spread(route_times)}")
    print(f"fast receiver within the run: {len(fast_times)}/{count}")
    print(f"  record -> fast receiver:    {spread(fast_times)}")
    print(f"slow receiver answered: {len(slow.accepted())}")


if __name__ == "__main__":
    main()
