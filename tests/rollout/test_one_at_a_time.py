"""oneAtATime: one cluster of the stage at a time, in order; stop at the first failure."""

from __future__ import annotations

import dataclasses

import pytest

from syncer import rollout
from tests.rollout import builders as b
from tests.rollout.builders import R1, R2

ORDER = ["prod-us", "prod-eu", "prod-ap"]  # as written, not as configured


def run(prod: dict[str, rollout.ClusterRecord], **options: object) -> rollout.RolloutPlan:
    records = {"dev": b.healthy(R2, 120), "staging": b.healthy(R2, 60), **prod}
    pipeline = b.pipeline(
        b.stage("dev", ["dev"]),
        b.stage("staging", ["staging"], after="dev"),
        b.stage("prod", ORDER, after="staging", one_at_a_time=True, **options),
    )
    return b.run(pipe=pipeline, records=records)


@dataclasses.dataclass
class Row:
    prod: dict[str, rollout.ClusterRecord]
    step: str | None
    phase: str
    waits: list[str]


ROWS = {
    "first in written order": Row(
        {}, "prod-us", "progressing", ["one at a time: prod-us now, then prod-eu, prod-ap"]
    ),
    "waits while the first applies": Row(
        {"prod-us": b.record(R2, rollout.APPLYING)},
        None,
        "progressing",
        ["one at a time: waiting for prod-us to be healthy"],
    ),
    "next one when the first is healthy": Row(
        {"prod-us": b.healthy(R2, 5)},
        "prod-eu",
        "progressing",
        ["one at a time: prod-eu now, then prod-ap"],
    ),
    "a cluster that is down holds the rest": Row(
        {"prod-us": b.healthy(R2, 5), "prod-eu": b.record(R2, rollout.ERROR)},
        None,
        "progressing",
        ["one at a time: waiting for prod-eu to be healthy"],
    ),
    "last one: nothing left to wait for": Row(
        {"prod-us": b.healthy(R2, 5), "prod-eu": b.healthy(R2, 3)}, "prod-ap", "progressing", []
    ),
    "rolled back second stops the third": Row(
        {"prod-us": b.healthy(R2, 5), "prod-eu": b.record(R2, rollout.ROLLED_BACK, running=R1)},
        None,
        "failed",
        [
            "blocked: release 222222222222 rolled back in cluster prod-eu; "
            "the rest of the stage waits"
        ],
    ),
    "unhealthy first stops everything": Row(
        {"prod-us": b.record(R2, rollout.UNHEALTHY)},
        None,
        "failed",
        ["blocked: release 222222222222 unhealthy in cluster prod-us; the rest of the stage waits"],
    ),
    "failed apply stops too": Row(
        {"prod-us": b.record(R2, rollout.FAILED)},
        None,
        "failed",
        ["blocked: release 222222222222 failed in cluster prod-us; the rest of the stage waits"],
    ),
    "an older rollout still in flight counts": Row(
        {"prod-eu": b.record(R1, rollout.APPLIED)},
        None,
        "waiting",
        ["one at a time: waiting for prod-eu to be healthy"],
    ),
    "all healthy": Row(
        {"prod-us": b.healthy(R2), "prod-eu": b.healthy(R2), "prod-ap": b.healthy(R2)},
        None,
        "done",
        [],
    ),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_one_at_a_time(row: Row) -> None:
    result = run(row.prod)
    prod_steps = [c for c, stage in b.steps(result) if stage == "prod"]
    assert prod_steps == ([row.step] if row.step else [])
    assert result.stage("prod").phase == row.phase
    assert [g.message for g in result.stage("prod").waits] == [
        f"stage prod: {w}" for w in row.waits
    ]


def test_selector_goes_in_config_order() -> None:
    records = {"dev": b.healthy(R2, 120), "staging": b.healthy(R2, 60)}
    result = b.run(pipe=b.three_stages(one_at_a_time=True), records=records)
    assert [c for c, s in b.steps(result) if s == "prod"] == ["prod-eu"]


def test_window_closing_mid_stage_holds_the_next_cluster() -> None:
    result = run({"prod-us": b.healthy(R2, 5)}, window=b.window("0 9 * * *"))
    assert [s for s in b.steps(result) if s[1] == "prod"] == []
    assert result.stage("prod").message == (
        'stage prod: outside window "0 9 * * *" (next opens 2026-11-24 09:00 UTC)'
    )


def test_a_failure_blocks_later_stages() -> None:
    pipeline = b.pipeline(
        b.stage("dev", ["dev"]),
        b.stage("prod", ["prod-eu", "prod-us"], after="dev", one_at_a_time=True),
        b.stage("edge", ["prod-ap"], after="prod"),
        b.stage("last", ["staging"], after="edge"),
    )
    records = {"dev": b.healthy(R2), "prod-eu": b.record(R2, rollout.UNHEALTHY)}
    result = b.run(pipe=pipeline, records=records)
    assert result.steps == ()
    assert result.messages == (
        "stage prod: blocked: release 222222222222 unhealthy in cluster prod-eu; "
        "the rest of the stage waits",
        "stage edge: blocked: release unhealthy in prod",
        "stage last: blocked: stage edge is blocked",
    )
    assert [s.phase for s in result.stages] == ["done", "failed", "blocked", "blocked"]
