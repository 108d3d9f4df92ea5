"""What the reconcile loop and the controller report in syncer's metrics: syncs and
rollouts by result, rollbacks, drift detected and healed, and each app's status and
pending approvals at scrape time."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from syncer import controller, metrics, state
from syncer.config import model
from syncer.state import records
from tests.controller import fakes


def renamed(name: str, **kw: bool) -> model.Config:
    """fakes.config with the app named ``name`` (the process-wide counters stay apart)."""
    cfg = fakes.config(**kw)
    return dataclasses.replace(cfg, apps=(dataclasses.replace(cfg.apps[0], name=name),))


def counts(app: str) -> dict[str, float]:
    found = {}
    for cluster in ("a", "b"):
        for result in ("healthy", "rolled-back", "unhealthy"):
            found[f"{cluster} {result}"] = metrics.value(
                "syncer_rollouts_total", app=app, cluster=cluster, stage="", result=result
            )
        found[f"{cluster} rollbacks"] = metrics.value(
            "syncer_rollbacks_total", app=app, cluster=cluster
        )
        found[f"{cluster} drifted"] = metrics.value(
            "syncer_drift_detected_total", app=app, cluster=cluster
        )
        found[f"{cluster} healed"] = metrics.value(
            "syncer_drift_healed_total", app=app, cluster=cluster
        )
    for result in ("ok", "failed"):
        found[f"syncs {result}"] = metrics.value("syncer_syncs_total", app=app, result=result)
    return {k: v for k, v in found.items() if v}


def test_a_rollout_then_a_rollback_are_counted_by_result(store: state.Store) -> None:
    parts = fakes.FakeParts()
    rec = fakes.reconciler(store, parts, renamed("counted"))
    assert rec.reconcile("counted", fresh=True).ok
    assert counts("counted") == {"a healthy": 1, "b healthy": 1, "syncs ok": 1}
    parts.tag, parts.bad_tags = "1.2.0", {"1.2.0"}
    out = rec.reconcile("counted", fresh=True)
    assert out.clusters == {"a": records.ROLLED_BACK, "b": records.ROLLED_BACK}
    assert counts("counted") == {
        "a healthy": 1, "b healthy": 1, "a rolled-back": 1, "b rolled-back": 1,
        "a rollbacks": 1, "b rollbacks": 1, "syncs ok": 1, "syncs failed": 1,
    }  # fmt: skip


def test_drift_is_counted_per_object_detected_and_healed(store: state.Store) -> None:
    parts = fakes.FakeParts()
    rec = fakes.reconciler(store, parts, renamed("drifting"))
    rec.reconcile("drifting", fresh=True)
    rec.reconcile("drifting", reasons=frozenset({"drift"}))
    assert "a drifted" not in counts("drifting")  # nothing drifted: nothing counted
    parts.drifted = ["Deployment default/web: spec.replicas", "ConfigMap default/web: data"]
    rec.reconcile("drifting", reasons=frozenset({"drift"}))
    found = counts("drifting")
    assert [found[f"{c} {what}"] for c in "ab" for what in ("drifted", "healed")] == [2] * 4


def test_series_start_at_zero_when_the_controller_starts(store: state.Store) -> None:
    ctl = controller.Controller(config=renamed("declared"), store=store, parts=fakes.FakeParts())
    ctl.start()
    try:
        labels = {"app": "declared", "cluster": "a", "stage": "", "result": "rolled-back"}
        assert metrics.REGISTRY.get_sample_value("syncer_rollouts_total", labels) == 0
        both = {"app": "declared", "cluster": "b"}
        assert metrics.REGISTRY.get_sample_value("syncer_rollbacks_total", both) == 0
    finally:
        ctl.stop(timeout=10)


def _pipeline(store: state.Store) -> controller.Controller:
    base = fakes.config(clusters=("dev", "prod"))
    app = dataclasses.replace(base.apps[0], name="promoted")
    stages = (
        model.Stage(name="dev", clusters=model.ClusterSelection(names=("dev",))),
        model.Stage(
            name="prod", clusters=model.ClusterSelection(names=("prod",)), after="dev",
            approval=True,
        ),
    )  # fmt: skip
    cfg = dataclasses.replace(
        base, apps=(app,), pipelines=(model.Pipeline(app="promoted", stages=stages),)
    )
    return controller.Controller(config=cfg, store=store, parts=fakes.FakeParts())


def test_app_facts_say_status_sync_and_pending_approvals(store: state.Store) -> None:
    ctl = _pipeline(store)
    assert ctl.app_facts() == [
        metrics.AppFacts(app="promoted", health_status="Pending", sync_status="Unknown")
    ]
    ctl.reconciler.reconcile("promoted", fresh=True)
    (facts,) = ctl.app_facts()
    # dev runs it; prod waits for approval: on its way, not in sync yet.
    assert (facts.health_status, facts.sync_status) == ("Progressing", "OutOfSync")
    (asked,) = store.approvals("promoted")
    assert facts.pending_approvals == {"prod": asked.requested_at}
    ctl.approve("promoted", "prod")
    ctl.reconciler.reconcile("promoted", fresh=True)
    assert ctl.app_facts() == [
        metrics.AppFacts(app="promoted", health_status="Healthy", sync_status="Synced")
    ]
    assert ctl.reconciler.reconcile("promoted", fresh=True).ok
    rollout = {"app": "promoted", "cluster": "prod", "stage": "prod", "result": "healthy"}
    assert metrics.value("syncer_rollouts_total", **rollout) == 1


def test_a_rejected_promotion_is_no_longer_pending(store: state.Store) -> None:
    ctl = _pipeline(store)
    ctl.reconciler.reconcile("promoted", fresh=True)
    ctl.reject("promoted", "prod", by="alice")
    ctl.reconciler.reconcile("promoted", fresh=True)
    (facts,) = ctl.app_facts()
    assert facts.pending_approvals == {}
    status = ctl.app_status("promoted")
    assert status is not None
    (approval,) = status["approvals"]
    assert (approval["stage"], approval["state"]) == ("prod", "rejected")
    assert "rejected by alice" in status["rejected"][approval["release"]]
    # The pipeline still shows where the rejected release got to, and why it stops.
    dev, prod = status["stages"]
    assert (dev["name"], dev["phase"], prod["name"], prod["phase"]) == (
        "dev", "done", "prod", "blocked",
    )  # fmt: skip
    (gate,) = prod["gates"]
    assert (gate["gate"], gate["state"]) == ("approval", "blocked")
    assert "rejected by alice" in gate["message"] and "newer release" in gate["message"]
    assert status["waiting"] == [] and facts.health_status == "Healthy"


def test_a_running_controller_is_what_the_scrape_reports(store: state.Store) -> None:
    ctl = _pipeline(store)
    ctl.start()
    try:
        text = metrics.exposition(None)[1].decode()
        assert 'syncer_app_info{app="promoted",' in text
    finally:
        ctl.stop(timeout=10)
    assert "syncer_app_info{" not in metrics.exposition(None)[1].decode()


class RoundWatchingStore:
    """A store that notes each read of an app's state made outside ``reading(app)``."""

    def __init__(self, inner: state.Store) -> None:
        self.inner = inner
        self.app: str | None = None
        self.outside: list[str] = []

    @contextlib.contextmanager
    def reading(self, app: str) -> Iterator[None]:
        previous, self.app = self.app, app
        try:
            yield
        finally:
            self.app = previous

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            app = args[0] if args and isinstance(args[0], str) else kwargs.get("app")
            if app == "promoted" and self.app != app:
                self.outside.append(name)
            return found(*args, **kwargs)

        return call


def test_status_and_scrape_read_each_app_in_one_round(store: state.Store) -> None:
    # A store in a cluster answers a round's reads with one request instead of one each.
    watched = RoundWatchingStore(store)
    ctl = _pipeline(watched)  # type: ignore[arg-type]
    ctl.reconciler.reconcile("promoted", fresh=True)
    watched.outside.clear()
    assert ctl.app_status("promoted") is not None
    ctl.apps_status()
    ctl.app_facts()
    assert watched.outside == []
