"""Small builders for rollout tests: clusters, stages, records, and one plan call."""

from __future__ import annotations

import datetime as dt
from typing import Any

from syncer import rollout
from syncer.config import model as config

NOW = dt.datetime(2026, 11, 23, 10, 30, tzinfo=dt.UTC)
"""A Monday, 10:30 UTC."""
R1 = "sha256:1111111111111111aaaa"
R2 = "sha256:2222222222222222bbbb"
R3 = "sha256:3333333333333333cccc"

CLUSTERS = (
    config.Cluster(name="dev", labels={"env": "dev"}),
    config.Cluster(name="staging", labels={"env": "staging"}),
    config.Cluster(name="prod-eu", labels={"env": "prod", "region": "eu"}),
    config.Cluster(name="prod-us", labels={"env": "prod", "region": "us"}),
    config.Cluster(name="prod-ap", labels={"env": "prod", "region": "ap"}),
)


def select(spec: Any) -> config.ClusterSelection:
    """``["a", "b"]`` → names; ``{"env": "prod"}`` → selector."""
    if isinstance(spec, dict):
        return config.ClusterSelection(selector=spec)
    return config.ClusterSelection(names=tuple(spec))


def stage(name: str, clusters: Any, **options: Any) -> config.Stage:
    return config.Stage(name=name, clusters=select(clusters), **options)


def window(cron: str, hours: float = 1) -> config.TimeWindow:
    return config.TimeWindow(cron=cron, duration=hours * 3600)


def pipeline(*stages: config.Stage) -> config.Pipeline:
    return config.Pipeline(app="web", stages=stages)


def app(clusters: Any = ("dev", "staging", "prod-eu", "prod-us", "prod-ap")) -> config.App:
    return config.App(name="web", source="deploy", clusters=select(clusters))


def three_stages(**prod: Any) -> config.Pipeline:
    """dev → staging → prod (selector env=prod: eu, us, ap), prod options from kwargs."""
    return pipeline(
        stage("dev", ["dev"]),
        stage("staging", ["staging"], after="dev"),
        stage("prod", {"env": "prod"}, after="staging", **prod),
    )


def healthy(release: str, minutes_ago: float = 60) -> rollout.ClusterRecord:
    since = NOW - dt.timedelta(minutes=minutes_ago)
    return rollout.ClusterRecord(
        release=release, state=rollout.HEALTHY, healthy_since=since, finished_at=since
    )


def record(release: str, state: str, running: str = "") -> rollout.ClusterRecord:
    return rollout.ClusterRecord(release=release, state=state, running=running)


def run(
    *,
    pipe: config.Pipeline | None,
    records: dict[str, rollout.ClusterRecord] | None = None,
    approvals: set[tuple[str, str]] | None = None,
    release: str = R2,
    now: dt.datetime = NOW,
    the_app: config.App | None = None,
) -> rollout.RolloutPlan:
    return rollout.plan(
        app=the_app or app(),
        pipeline=pipe,
        clusters=list(CLUSTERS),
        release=release,
        records=records or {},
        approvals=approvals or set(),
        now=now,
    )


def steps(result: rollout.RolloutPlan) -> list[tuple[str, str]]:
    """``[(cluster, stage), ...]`` of the plan's steps."""
    return [(s.cluster, s.stage) for s in result.steps]
