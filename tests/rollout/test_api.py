"""The public API of syncer.rollout, its input checks, and the JSON status it gives."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from syncer import rollout
from syncer.rollout import gates
from tests.rollout import builders as b
from tests.rollout.builders import NOW, R2


def test_public_names_are_pinned() -> None:
    assert sorted(rollout.__all__) == sorted(
        [
            "APPLIED", "APPLYING", "APPROVAL", "BLOCKED", "BLOCKED_PHASE", "DONE", "ERROR",
            "FAILED", "FAILURES", "HEALTHY", "IN_FLIGHT",
            "PENDING", "ROLLED_BACK", "STATES", "SUPERSEDED", "UNHEALTHY", "ClusterRecord",
            "ClusterStatus", "GateResult", "RolloutPlan", "StageStatus", "Step", "WindowState",
            "plan", "problems", "resolve", "window_state",
        ]
    )  # fmt: skip
    for name in rollout.__all__:
        assert getattr(rollout, name) is not None


def test_states_match_what_the_state_store_writes() -> None:
    assert rollout.STATES == (
        "pending", "applying", "applied", "error", "healthy", "unhealthy", "rolled-back",
        "failed", "superseded",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"state": "done"}, "cluster record state 'done': use one of pending, applying"),
        ({"state": "healthy"}, "a healthy cluster record needs healthy_since"),
        (
            {"state": "healthy", "healthy_since": dt.datetime(2026, 1, 1)},
            "healthy_since must be timezone-aware",
        ),
    ],
)
def test_cluster_record_rejects_bad_input(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rollout.ClusterRecord(release=R2, **kwargs)  # type: ignore[arg-type]


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        b.run(pipe=None, now=NOW.replace(tzinfo=None))


def test_now_in_another_timezone_is_the_same_instant() -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    pipe = b.three_stages(window=b.window("0 9 * * mon-fri"))
    records = {"dev": b.healthy(R2), "staging": b.healthy(R2)}
    here = b.run(pipe=pipe, records=records, now=NOW.astimezone(tokyo))
    assert here.messages == b.run(pipe=pipe, records=records).messages


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.2, "1s"), (59, "59s"), (60, "1m"), (252, "4m12s"), (3600, "1h"),
     (5400, "1h30m"), (3601, "1h1s"), (90061, "25h1m1s")],
)  # fmt: skip
def test_durations_read_like_go(seconds: float, text: str) -> None:
    assert gates.duration(seconds) == text


def test_status_is_plain_json_with_utc_times() -> None:
    pipe = b.three_stages(soak=600, approval=True, window=b.window("0 9 * * mon-fri"))
    records = {"dev": b.healthy(R2, 120), "staging": b.healthy(R2, 5.8)}
    data = json.loads(json.dumps(b.run(pipe=pipe, records=records).to_dict()))
    assert data["app"] == "web" and data["release"] == R2 and data["done"] is False
    assert data["pendingApprovals"] == ["prod"]
    assert data["nextCheck"] == "2026-11-23T10:34:12Z"
    prod = data["stages"][2]
    assert prod["name"] == "prod" and prod["phase"] == "waiting"
    assert [(g["gate"], g["state"]) for g in prod["gates"]] == [
        ("after", "passed"),
        ("soak", "waiting"),
        ("approval", "waiting"),
        ("window", "waiting"),
    ]
    assert prod["gates"][1]["until"] == "2026-11-23T10:34:12Z"
    assert prod["gates"][3]["until"] == "2026-11-24T09:00:00Z"
    assert data["messages"] == [
        "stage prod: soaking in staging, 4m12s left",
        "stage prod: waiting for approval of release 222222222222 "
        '(POST /api/v1/apps/web/approve {"stage": "prod"})',
        'stage prod: outside window "0 9 * * mon-fri" (next opens 2026-11-24 09:00 UTC)',
    ]
    assert prod["clusters"][0] == {
        "name": "prod-eu", "release": "", "state": "", "running": "", "current": False,
    }  # fmt: skip


def test_plan_is_pure_same_input_same_output() -> None:
    pipe = b.three_stages(soak=600, approval=True)
    records = {"dev": b.healthy(R2, 120), "staging": b.healthy(R2, 5.8)}
    assert b.run(pipe=pipe, records=records) == b.run(pipe=pipe, records=records)
