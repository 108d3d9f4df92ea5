"""A pipeline written in YAML, read by the config loader, plans as the README says."""

from __future__ import annotations

import datetime as dt

from syncer import rollout
from syncer.config import loader

CONFIG = """
sources:
  - name: deploy
    git: {url: https://git.example.com/team/deploy.git, branch: main}
clusters:
  - {name: dev,     kubeconfig: k, labels: {env: dev}}
  - {name: staging, kubeconfig: k, labels: {env: staging}}
  - {name: prod-eu, kubeconfig: k, labels: {env: prod}}
  - {name: prod-us, kubeconfig: k, labels: {env: prod}}
apps:
  - name: web
    source: deploy
    clusters: [dev, staging, prod-eu, prod-us]
pipelines:
  - app: web
    stages:
      - {name: dev,     clusters: [dev]}
      - {name: staging, clusters: [staging], after: dev}
      - {name: prod,    clusters: {selector: {env: prod}}, after: staging, soak: 10m,
         approval: true, window: {cron: "0 9-16 * * mon-fri", duration: 1h}, oneAtATime: true}
"""
MONDAY_NOON = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
R = "sha256:" + "ab" * 32


def test_yaml_pipeline_plans_stage_by_stage() -> None:
    config = loader.loads(CONFIG, filename="syncer.yaml", base_dir=".")
    (app,) = config.apps
    (pipeline,) = config.pipelines

    def plan(records: dict[str, rollout.ClusterRecord], approvals: set[tuple[str, str]]):
        return rollout.plan(
            app=app, pipeline=pipeline, clusters=config.clusters, release=R,
            records=records, approvals=approvals, now=MONDAY_NOON,
        )  # fmt: skip

    def healthy(minutes: float) -> rollout.ClusterRecord:
        since = MONDAY_NOON - dt.timedelta(minutes=minutes)
        return rollout.ClusterRecord(release=R, state=rollout.HEALTHY, healthy_since=since)

    first = plan({}, set())
    assert [(s.cluster, s.stage) for s in first.steps] == [("dev", "dev")]
    assert first.pending_approvals == ("prod",)

    soaking = plan({"dev": healthy(30), "staging": healthy(3)}, set())
    assert soaking.steps == ()
    assert soaking.stage("prod").message == (
        "stage prod: soaking in staging, 7m left; "
        "stage prod: waiting for approval of release abababababab "
        '(POST /api/v1/apps/web/approve {"stage": "prod"})'
    )
    assert soaking.next_check == MONDAY_NOON + dt.timedelta(minutes=7)

    ready = plan({"dev": healthy(30), "staging": healthy(10)}, {(R, "prod")})
    assert [(s.cluster, s.stage) for s in ready.steps] == [("prod-eu", "prod")]
