"""Each gate of the prod stage (dev → staging → prod), alone and combined.

Rows: prod's options, the records, the approvals → the steps, prod's phase, the
sentences that say why prod waits, and when to plan again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from syncer import rollout
from tests.rollout import builders as b
from tests.rollout.builders import NOW, R1, R2

ALL_PROD = [("prod-eu", "prod"), ("prod-us", "prod"), ("prod-ap", "prod")]
APPROVE = (
    'waiting for approval of release 222222222222 (POST /api/v1/apps/web/approve {"stage": "prod"})'
)
NINE_TO_FIVE = b.window("0 9-16 * * mon-fri")  # open Monday 10:30
MORNINGS = b.window("0 9 * * mon-fri")  # 09:00-10:00: closed at Monday 10:30
NEXT_MORNING = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
WINDOW_CLOSED = 'outside window "0 9 * * mon-fri" (next opens 2026-11-24 09:00 UTC)'


def upstream(staging: rollout.ClusterRecord | None = None) -> dict[str, rollout.ClusterRecord]:
    """dev healthy on R2 for 2h; staging as given (default healthy on R2 for 1h)."""
    return {"dev": b.healthy(R2, 120), "staging": staging or b.healthy(R2, 60)}


@dataclasses.dataclass
class Row:
    prod: dict[str, Any]
    records: dict[str, rollout.ClusterRecord]
    approvals: set[tuple[str, str]]
    steps: list[tuple[str, str]]
    phase: str
    waits: list[str]
    next_check: dt.datetime | None = None
    pending: tuple[str, ...] = ()


ROWS = {
    "after: staging still rolling out": Row(
        {},
        upstream(b.record(R2, rollout.APPLIED)),
        set(),
        [],
        "waiting",
        ["waiting for release 222222222222 to be healthy in staging (0/1 clusters)"],
    ),
    "after: staging on an older release": Row(
        {},
        upstream(b.healthy(R1)),
        set(),
        [("staging", "staging")],
        "waiting",
        ["waiting for release 222222222222 to be healthy in staging (0/1 clusters)"],
    ),
    "after: staging healthy": Row({}, upstream(), set(), ALL_PROD, "progressing", []),
    "after: staging unhealthy blocks": Row(
        {},
        upstream(b.record(R2, rollout.UNHEALTHY)),
        set(),
        [],
        "blocked",
        ["blocked: release unhealthy in staging"],
    ),
    "after: staging rolled back blocks": Row(
        {},
        upstream(b.record(R2, rollout.ROLLED_BACK, running=R1)),
        set(),
        [],
        "blocked",
        ["blocked: release unhealthy in staging"],
    ),
    "soak: 4m12s left": Row(
        {"soak": 600},
        upstream(b.healthy(R2, 5.8)),
        set(),
        [],
        "waiting",
        ["soaking in staging, 4m12s left"],
        NOW + dt.timedelta(seconds=252),
    ),
    "soak: exactly over": Row(
        {"soak": 600}, upstream(b.healthy(R2, 10)), set(), ALL_PROD, "progressing", []
    ),
    "soak: not started": Row(
        {"soak": 600},
        upstream(b.record(R2, rollout.APPLYING)),
        set(),
        [],
        "waiting",
        [
            "waiting for release 222222222222 to be healthy in staging (0/1 clusters)",
            "soak of 10m in staging starts when the release is healthy there",
        ],
    ),
    "approval: none": Row(
        {"approval": True}, upstream(), set(), [], "waiting", [APPROVE], pending=("prod",)
    ),
    "approval: given": Row(
        {"approval": True}, upstream(), {(R2, "prod")}, ALL_PROD, "progressing", []
    ),
    "approval: of an older release only": Row(
        {"approval": True},
        upstream(),
        {(R1, "prod")},
        [],
        "waiting",
        [APPROVE],
        pending=("prod",),
    ),
    "approval: of another stage only": Row(
        {"approval": True},
        upstream(),
        {(R2, "staging")},
        [],
        "waiting",
        [APPROVE],
        pending=("prod",),
    ),
    "approval: asked while staging still rolls out": Row(
        {"approval": True},
        upstream(b.record(R2, rollout.APPLYING)),
        set(),
        [],
        "waiting",
        ["waiting for release 222222222222 to be healthy in staging (0/1 clusters)", APPROVE],
        pending=("prod",),
    ),
    "approval: not asked when staging failed": Row(
        {"approval": True},
        upstream(b.record(R2, rollout.FAILED)),
        set(),
        [],
        "blocked",
        ["blocked: stage staging failed"],
    ),
    "window: open": Row({"window": NINE_TO_FIVE}, upstream(), set(), ALL_PROD, "progressing", []),
    "window: closed": Row(
        {"window": MORNINGS}, upstream(), set(), [], "waiting", [WINDOW_CLOSED], NEXT_MORNING
    ),
    "soak + approval + window: all wait": Row(
        {"soak": 600, "approval": True, "window": MORNINGS},
        upstream(b.healthy(R2, 5.8)),
        set(),
        [],
        "waiting",
        ["soaking in staging, 4m12s left", APPROVE, WINDOW_CLOSED],
        NOW + dt.timedelta(seconds=252),
        ("prod",),
    ),
    "soak + approval + window: only the window waits": Row(
        {"soak": 600, "approval": True, "window": MORNINGS},
        upstream(),
        {(R2, "prod")},
        [],
        "waiting",
        [WINDOW_CLOSED],
        NEXT_MORNING,
    ),
    "soak + approval + window: approved, soaking, open": Row(
        {"soak": 600, "approval": True, "window": NINE_TO_FIVE},
        upstream(b.healthy(R2, 1)),
        {(R2, "prod")},
        [],
        "waiting",
        ["soaking in staging, 9m left"],
        NOW + dt.timedelta(minutes=9),
    ),
    "soak + approval + window: all pass": Row(
        {"soak": 600, "approval": True, "window": NINE_TO_FIVE},
        upstream(),
        {(R2, "prod")},
        ALL_PROD,
        "progressing",
        [],
    ),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_prod_gates(row: Row) -> None:
    result = b.run(pipe=b.three_stages(**row.prod), records=row.records, approvals=row.approvals)
    prod = result.stage("prod")
    assert [s for s in b.steps(result) if s[1] == "prod"] == [
        s for s in row.steps if s[1] == "prod"
    ]
    assert prod.phase == row.phase
    assert [g.message for g in prod.waits] == [f"stage prod: {w}" for w in row.waits]
    assert result.next_check == row.next_check
    assert result.pending_approvals == row.pending


def test_last_upstream_cluster_to_become_healthy_starts_the_soak() -> None:
    pipe = b.pipeline(
        b.stage("dev", ["dev"]),
        b.stage("staging", ["staging", "prod-ap"]),
        b.stage("prod", ["prod-eu", "prod-us"], after="staging", soak=3600),
    )
    records = {"staging": b.healthy(R2, 90), "prod-ap": b.healthy(R2, 20)}
    result = b.run(pipe=pipe, records=records)
    assert result.stage("prod").message == "stage prod: soaking in staging, 40m left"
    assert result.next_check == NOW + dt.timedelta(minutes=40)


def test_an_upstream_stage_without_clusters_blocks() -> None:
    pipe = b.pipeline(
        b.stage("dev", ["dev"]),
        b.stage("qa", {"env": "qa"}, after="dev"),
        b.stage("prod", {"env": "prod"}, after="qa"),
    )
    the_app = b.app(["dev", "prod-eu", "prod-us", "prod-ap"])
    result = b.run(pipe=pipe, records={"dev": b.healthy(R2)}, the_app=the_app)
    assert result.messages == (
        "stage qa: stage qa selects no clusters",
        "stage prod: blocked: stage qa has no clusters",
    )
    assert result.stage("qa").phase == "empty" and result.stage("prod").phase == "blocked"
    assert result.steps == ()


def test_a_stage_without_after_takes_the_release_directly() -> None:
    pipe = b.pipeline(b.stage("dev", ["dev"]), b.stage("canary", ["prod-eu"], approval=True))
    result = b.run(pipe=pipe, the_app=b.app(["dev", "prod-eu"]), approvals={(R2, "canary")})
    assert b.steps(result) == [("dev", "dev"), ("prod-eu", "canary")]


def test_a_done_stage_reports_no_gates_even_outside_its_window() -> None:
    records = {
        **upstream(),
        "prod-eu": b.healthy(R2),
        "prod-us": b.healthy(R2),
        "prod-ap": b.healthy(R2),
    }
    result = b.run(pipe=b.three_stages(window=MORNINGS, approval=True), records=records)
    assert result.done and result.messages == () and result.steps == ()
    assert [s.phase for s in result.stages] == ["done", "done", "done"]
