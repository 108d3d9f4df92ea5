"""Without a pipeline every cluster of the app gets the newest release at once."""

from __future__ import annotations

import pytest

from syncer import rollout
from tests.rollout import builders as b
from tests.rollout.builders import R1, R2


def test_all_clusters_at_once_in_config_order() -> None:
    result = b.run(pipe=None, the_app=b.app({"env": "prod"}))
    assert b.steps(result) == [("prod-eu", ""), ("prod-us", ""), ("prod-ap", "")]
    assert all(s.release == R2 for s in result.steps)
    (only,) = result.stages
    assert only.name == "" and only.phase == "progressing"
    assert result.messages == () and result.pending_approvals == () and result.next_check is None


@pytest.mark.parametrize(
    ("record", "gets_step", "phase"),
    [
        (None, True, "progressing"),
        (b.healthy(R1), True, "progressing"),  # older release: superseded
        (b.record(R1, rollout.APPLYING), True, "progressing"),  # mid-rollout of an older one
        (b.record(R1, rollout.ROLLED_BACK), True, "progressing"),
        (b.record(R2, rollout.SUPERSEDED), True, "progressing"),
        (b.record(R2, rollout.PENDING), False, "progressing"),  # the controller resumes it
        (b.record(R2, rollout.APPLYING), False, "progressing"),
        (b.record(R2, rollout.APPLIED), False, "progressing"),
        (b.record(R2, rollout.ERROR), False, "progressing"),  # cluster down: retried by it
        (b.healthy(R2), False, "done"),
        (b.record(R2, rollout.UNHEALTHY), False, "failed"),  # never rolled out twice
        (b.record(R2, rollout.ROLLED_BACK, running=R1), False, "failed"),
        (b.record(R2, rollout.FAILED), False, "failed"),
    ],
)
def test_one_cluster_by_record(
    record: rollout.ClusterRecord | None, gets_step: bool, phase: str
) -> None:
    records = {"dev": record} if record else {}
    result = b.run(pipe=None, the_app=b.app(["dev"]), records=records)
    assert (b.steps(result) == [("dev", "")]) is gets_step
    assert result.stages[0].phase == phase
    assert result.done is (phase == "done")


def test_a_failed_cluster_does_not_stop_the_others() -> None:
    records = {"prod-eu": b.record(R2, rollout.ROLLED_BACK, running=R1)}
    result = b.run(pipe=None, the_app=b.app({"env": "prod"}), records=records)
    assert b.steps(result) == [("prod-us", ""), ("prod-ap", "")]
    assert result.messages == ("release 222222222222 rolled back in cluster prod-eu",)
    assert result.stages[0].phase == "failed"


def test_no_clusters_selected() -> None:
    result = b.run(pipe=None, the_app=b.app({"env": "qa"}))
    assert result.steps == ()
    assert result.stages[0].phase == "empty"
    assert result.messages == ("app web selects no clusters",)


def test_summary_says_which_release_each_cluster_runs() -> None:
    records = {
        "prod-eu": b.healthy(R2),
        "prod-us": b.record(R2, rollout.ROLLED_BACK, running=R1),
        "prod-ap": b.record(R1, rollout.APPLYING),
    }
    data = b.run(pipe=None, the_app=b.app({"env": "prod"}), records=records).to_dict()
    clusters = data["stages"][0]["clusters"]
    assert [(c["name"], c["running"], c["state"], c["current"]) for c in clusters] == [
        ("prod-eu", R2, "healthy", True),
        ("prod-us", R1, "rolled-back", False),
        ("prod-ap", R1, "applying", False),
    ]
    assert data["steps"] == [{"cluster": "prod-ap", "stage": "", "release": R2}]
