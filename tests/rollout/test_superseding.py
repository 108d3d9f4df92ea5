"""A newer release supersedes an older one mid-pipeline (like Kargo freight): stages
that run an older release keep it until the newest passes their gates."""

from __future__ import annotations

from syncer import rollout
from tests.rollout import builders as b
from tests.rollout.builders import R1, R2, R3


def running(result: rollout.RolloutPlan) -> dict[str, str]:
    return {c.name: c.running for s in result.stages for c in s.clusters}


def test_new_release_enters_dev_while_prod_waits_for_approval_of_the_old_one() -> None:
    # R2 went dev → staging and waited for approval into prod; then R3 arrived.
    records = {
        "dev": b.healthy(R2, 120),
        "staging": b.healthy(R2, 60),
        "prod-eu": b.healthy(R1, 600),
        "prod-us": b.healthy(R1, 600),
        "prod-ap": b.healthy(R1, 600),
    }
    result = b.run(
        pipe=b.three_stages(approval=True),
        records=records,
        approvals={(R2, "staging")},
        release=R3,
    )
    assert b.steps(result) == [("dev", "dev")]
    assert all(s.release == R3 for s in result.steps)
    # staging keeps R2 and prod keeps R1 until R3 is healthy upstream.
    assert running(result)["staging"] == R2 and running(result)["prod-eu"] == R1
    assert result.stage("prod").message == (
        "stage prod: waiting for release 333333333333 to be healthy in staging (0/1 clusters); "
        "stage prod: waiting for approval of release 333333333333 "
        '(POST /api/v1/apps/web/approve {"stage": "prod"})'
    )
    # An approval of R2 does not carry over to R3.
    approved_old = b.run(
        pipe=b.three_stages(approval=True),
        records=records,
        approvals={(R2, "prod")},
        release=R3,
    )
    assert approved_old.pending_approvals == ("prod",)


def test_half_promoted_one_at_a_time_stage_keeps_its_mix_until_the_new_release_arrives() -> None:
    records = {
        "dev": b.healthy(R2, 120),
        "staging": b.healthy(R2, 60),
        "prod-eu": b.healthy(R2, 10),
        "prod-us": b.healthy(R1, 600),
        "prod-ap": b.healthy(R1, 600),
    }
    result = b.run(pipe=b.three_stages(one_at_a_time=True), records=records, release=R3)
    assert b.steps(result) == [("dev", "dev")]
    assert [running(result)[n] for n in ("prod-eu", "prod-us", "prod-ap")] == [R2, R1, R1]
    # Once R3 is healthy in staging, prod takes R3 — starting again from its first cluster.
    records |= {"dev": b.healthy(R3, 30), "staging": b.healthy(R3, 20)}
    result = b.run(pipe=b.three_stages(one_at_a_time=True), records=records, release=R3)
    assert b.steps(result) == [("prod-eu", "prod")]
    assert result.steps[0].release == R3


def test_never_into_a_stage_whose_after_stage_is_unhealthy_on_the_release() -> None:
    records = {
        "dev": b.healthy(R3, 30),
        "staging": b.record(R3, rollout.ROLLED_BACK, running=R2),
        "prod-eu": b.healthy(R2, 10),
        "prod-us": b.healthy(R2, 10),
        "prod-ap": b.healthy(R2, 10),
    }
    result = b.run(pipe=b.three_stages(), records=records, release=R3)
    assert result.steps == ()
    assert result.stage("prod").message == "stage prod: blocked: release unhealthy in staging"
    assert running(result)["staging"] == R2  # what the rollback restored
    assert [s.phase for s in result.stages] == ["done", "failed", "blocked"]


def test_newest_release_in_flight_upstream_holds_prod_on_the_older_one() -> None:
    records = {
        "dev": b.healthy(R3, 30),
        "staging": b.record(R3, rollout.APPLYING),
        "prod-eu": b.healthy(R2, 10),
    }
    pipe = b.pipeline(
        b.stage("dev", ["dev"]),
        b.stage("staging", ["staging"], after="dev"),
        b.stage("prod", ["prod-eu"], after="staging"),
    )
    the_app = b.app(["dev", "staging", "prod-eu"])
    result = b.run(pipe=pipe, records=records, release=R3, the_app=the_app)
    assert result.steps == ()
    assert result.stage("staging").phase == "progressing"
    assert result.stage("prod").phase == "waiting"


def test_a_stage_mid_rollout_of_an_older_release_is_superseded_when_gates_pass() -> None:
    # All-at-once stage still applying R2 on one cluster; R3 has passed staging.
    records = {
        "dev": b.healthy(R3, 30),
        "staging": b.healthy(R3, 20),
        "prod-eu": b.record(R2, rollout.APPLIED),
        "prod-us": b.healthy(R2, 5),
        "prod-ap": b.record(R2, rollout.SUPERSEDED),
    }
    result = b.run(pipe=b.three_stages(), records=records, release=R3)
    assert b.steps(result) == [("prod-eu", "prod"), ("prod-us", "prod"), ("prod-ap", "prod")]
