"""How long one ``rollout.plan`` call takes: the controller makes one per app per reconcile.

Run: ``python -m tests.bench.bench_rollout_plan``. Prints the time per plan for a pipeline of
3 stages (dev, staging, prod with soak + approval + window + oneAtATime) over 20
clusters, for 200 apps, at a few points of the rollout.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

from syncer import rollout
from syncer.config import model as config

NOW = dt.datetime(2026, 11, 23, 10, 30, tzinfo=dt.UTC)
R1, R2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
CLUSTERS = [
    config.Cluster(
        name=f"c{i:02}", labels={"env": "dev" if i < 2 else "staging" if i < 5 else "prod"}
    )
    for i in range(20)
]


def pipeline() -> config.Pipeline:
    sel = config.ClusterSelection
    return config.Pipeline(
        app="web",
        stages=(
            config.Stage(name="dev", clusters=sel(selector={"env": "dev"})),
            config.Stage(name="staging", clusters=sel(selector={"env": "staging"}), after="dev"),
            config.Stage(
                name="prod",
                clusters=sel(selector={"env": "prod"}),
                after="staging",
                soak=600,
                approval=True,
                window=config.TimeWindow(cron="0 9 * * mon-fri", duration=3600),
                one_at_a_time=True,
            ),
        ),
    )


def records(point: str) -> dict[str, rollout.ClusterRecord]:
    old = rollout.ClusterRecord(R1, rollout.HEALTHY, healthy_since=NOW - dt.timedelta(days=1))
    new = rollout.ClusterRecord(R2, rollout.HEALTHY, healthy_since=NOW - dt.timedelta(hours=1))
    upstream = {"start": 0, "prod gated": 5, "prod half": 12, "done": 20}[point]
    return {c.name: (new if i < upstream else old) for i, c in enumerate(CLUSTERS)}


def main() -> None:
    app = config.App(name="web", source="s")
    pipe = pipeline()
    print("rollout.plan, 3 stages, 20 clusters, prod with soak+approval+window+oneAtATime")
    for point in ("start", "prod gated", "prod half", "done"):
        recs = records(point)
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(200):
                rollout.plan(
                    app=app,
                    pipeline=pipe,
                    clusters=CLUSTERS,
                    release=R2,
                    records=recs,
                    approvals={(R2, "prod")},
                    now=NOW,
                )
            samples.append((time.perf_counter() - started) / 200)
        best, median = min(samples), statistics.median(samples)
        print(
            f"  {point:<11} {median * 1e6:8.1f} µs/plan (best {best * 1e6:.1f}); "
            f"200 apps: {median * 200 * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
