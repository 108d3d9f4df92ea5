"""The reconcile loop's decisions: roll out once, resume, roll back, catch up."""

from __future__ import annotations

import time
from typing import Any

import pytest

from syncer import state
from syncer.reconcile import app as app_
from syncer.reconcile import inputs as inputs_
from syncer.reconcile import plan as plan_
from syncer.reconcile import target as target_
from syncer.state import records
from tests.controller import fakes


def make(store: state.Store, parts: fakes.FakeParts, **kw: object) -> app_.Reconciler:
    return fakes.reconciler(store, parts, fakes.config(**kw))  # type: ignore[arg-type]


def kinds(store: state.Store) -> list[str]:
    return [e.kind for e in reversed(store.history("web", limit=200))]


def test_new_release_reaches_both_clusters_once(store: state.Store) -> None:
    parts = fakes.FakeParts()
    rec = make(store, parts)
    out = rec.reconcile("web", fresh=True)
    assert out.ok, out.message
    assert out.clusters == {"a": "healthy", "b": "healthy"}
    assert sorted(c for c, _ in parts.applies) == ["a", "b"]
    again = rec.reconcile("web", fresh=True)
    assert again.ok and again.clusters == {}
    assert len(parts.applies) == 2  # nothing applied the second time
    assert kinds(store).count("release") == 1 and kinds(store).count("rollout") == 1


def test_new_tag_makes_a_new_release(store: state.Store) -> None:
    parts = fakes.FakeParts()
    rec = make(store, parts)
    first = rec.reconcile("web", fresh=True)
    parts.tag = "1.1.0"
    second = rec.reconcile("web", fresh=True)
    assert second.release != first.release
    assert {d.release_id for d in store.deployments("web")} == {second.release}


def test_unhealthy_release_rolls_back_and_is_not_retried(store: state.Store) -> None:
    parts = fakes.FakeParts()
    rec = make(store, parts)
    good = rec.reconcile("web", fresh=True).release
    parts.tag, parts.bad_tags = "1.2.0", {"1.2.0"}
    out = rec.reconcile("web", fresh=True)
    assert not out.ok
    assert out.clusters == {"a": records.ROLLED_BACK, "b": records.ROLLED_BACK}
    assert {d.release_id for d in store.deployments("web")} == {good}
    assert all(d.healthy for d in store.deployments("web"))
    assert out.release in store.rejected("web")
    assert kinds(store).count("rollback") == 2
    applies = len(parts.applies)
    quiet = rec.reconcile("web", fresh=True)
    assert quiet.ok and len(parts.applies) == applies
    assert "not rolled out" in quiet.message


def test_without_rollback_unhealthy_stays(store: state.Store) -> None:
    parts = fakes.FakeParts()
    rec = make(store, parts, rollback=False)
    rec.reconcile("web", fresh=True)
    parts.tag, parts.bad_tags = "1.2.0", {"1.2.0"}
    out = rec.reconcile("web", fresh=True)
    assert out.clusters == {"a": records.UNHEALTHY, "b": records.UNHEALTHY}
    assert "rollback off" in store.rollouts("web")[0].targets[0].message


def test_down_cluster_does_not_stop_the_other_and_catches_up(store: state.Store) -> None:
    parts = fakes.FakeParts()
    parts.down = {"b"}
    rec = make(store, parts)
    out = rec.reconcile("web", fresh=True)
    assert out.clusters == {"a": records.HEALTHY, "b": records.ERROR}
    assert not out.ok
    (err,) = store.errors("web")
    assert err.cluster == "b" and "connection refused" in err.message
    parts.down = set()
    back = rec.reconcile("web", fresh=True)
    assert back.ok and back.clusters == {"b": records.HEALTHY}
    assert store.errors("web") == []
    assert len(store.rollouts("web")) == 1  # the same rollout finished


def test_crash_mid_rollout_resumes_the_same_rollout(store: state.Store) -> None:
    parts = fakes.FakeParts()
    rec = make(store, parts)
    # What a killed process leaves: the release and the intent, one target applying.
    rel = rec.decide(rec.config.apps[0], fresh=True).release
    store.put_release(rel)
    ro = store.begin_rollout(app="web", release_id=rel.id, clusters=["a", "b"], cause="new")
    store.set_target(ro.targets[0].id, state=records.APPLYING, attempt=True)
    out = rec.reconcile("web", reasons=frozenset({"startup"}), fresh=True)
    assert out.ok and out.release == rel.id
    (only,) = store.rollouts("web")
    assert only.id == ro.id and {t.state for t in only.targets} == {records.HEALTHY}
    assert kinds(store).count("rollout") == 1


@pytest.mark.parametrize("down", ["registry", "git"])
def test_resumed_rollout_completes_while_polls_fail(store: state.Store, down: str) -> None:
    """A crash left a rollout open; after the restart the registry (or Git) cannot be
    polled: no new release can be made, but the open rollout is still finished."""
    parts = fakes.FakeParts()
    rec = make(store, parts)
    rel = rec.decide(rec.config.apps[0], fresh=True).release
    store.put_release(rel)
    ro = store.begin_rollout(app="web", release_id=rel.id, clusters=["a", "b"], cause="new")
    store.set_target(ro.targets[0].id, state=records.APPLYING, attempt=True)
    rec = make(store, parts)  # the restarted process: nothing polled yet
    setattr(parts, f"{down}_down", True)
    out = rec.reconcile("web", reasons=frozenset({"startup"}), fresh=True)
    assert not out.ok and out.stage == ("images" if down == "registry" else "source")
    assert out.clusters == {"a": "healthy", "b": "healthy"}
    assert not store.open_rollouts("web")
    assert {d.release_id for d in store.deployments("web")} == {rel.id}


def test_manual_rollback_rejects_the_current_release(store: state.Store) -> None:
    parts = fakes.FakeParts()
    rec = make(store, parts)
    first = rec.reconcile("web", fresh=True).release
    parts.tag = "1.1.0"
    second = rec.reconcile("web", fresh=True).release
    out = rec.rollback("web", to=None, by="alice")
    assert out.ok and out.release == first
    assert second in store.rejected("web")
    assert rec.reconcile("web", fresh=True).clusters == {}  # 1.1.0 stays out
    assert {d.release_id for d in store.deployments("web")} == {first}


def test_source_failure_is_recorded_and_reported(store: state.Store) -> None:
    parts = fakes.FakeParts()
    parts.registry_down = True
    rec = make(store, parts)
    out = rec.reconcile("web", fresh=True)
    assert not out.ok and out.stage == "images"
    assert "unreachable" in store.errors("web")[0].message


def test_offline_plan_says_what_is_missing_and_writes_nothing(store: state.Store) -> None:
    from syncer import images

    def unreachable(image: object, **_: object) -> None:
        raise images.RegistryUnreachableError("registry reg.example unreachable")

    parts = fakes.FakeParts()
    parts.decide = unreachable  # type: ignore[method-assign,assignment]
    parts.missing = {"a": "no kubeconfig ($KUBECONFIG unset, ~/.kube/config missing)"}
    cfg = fakes.config()
    report = plan_.plan_app(config=cfg, parts=parts, store=store, name="web")
    assert not report.ok
    assert "using the image tags written in Git: reg.example/team/web:from-git" in report.notes[0]
    a, b = report.clusters
    assert not a.reachable and a.missing.startswith("no kubeconfig") and a.objects
    assert b.reachable and b.summary == {"update": 1}
    assert store.releases("web") == [] and store.history("web") == []


def pipeline_config(**prod: object) -> Any:
    """The fake config with app ``web`` promoted by a pipeline dev -> prod (``prod``
    adds to the prod stage)."""
    import dataclasses

    from syncer.config import model

    base = fakes.config(clusters=("dev", "prod"))
    app = dataclasses.replace(base.apps[0], clusters=model.ClusterSelection())
    return dataclasses.replace(
        base,
        apps=(app,),
        pipelines=(
            model.Pipeline(
                app="web",
                stages=(
                    model.Stage(name="dev", clusters=model.ClusterSelection(names=("dev",))),
                    model.Stage(
                        name="prod", clusters=model.ClusterSelection(names=("prod",)),
                        after="dev", **prod,  # type: ignore[arg-type]
                    ),
                ),
            ),
        ),
    )  # fmt: skip


def test_pipeline_waits_for_approval_then_promotes(store: state.Store) -> None:
    from syncer import controller

    parts = fakes.FakeParts()
    cfg = pipeline_config(approval=True)
    ctl = controller.Controller(config=cfg, store=store, parts=parts)
    first = ctl.reconciler.reconcile("web", fresh=True)
    assert first.clusters == {"dev": "healthy"}
    second = ctl.reconciler.reconcile("web", fresh=True)
    assert second.clusters == {}
    status = ctl.app_status("web")
    assert status is not None
    assert any("approval" in w for w in status["waiting"]), status["waiting"]
    assert [s["name"] for s in status["stages"]] == ["dev", "prod"]
    ctl.approve("web", "prod")
    third = ctl.reconciler.reconcile("web", fresh=True)
    assert third.clusters == {"prod": "healthy"}
    assert ctl.app_status("web")["waiting"] == []  # type: ignore[index]


def test_drift_check_heals_and_records(store: state.Store) -> None:
    parts = fakes.FakeParts()
    rec = make(store, parts)
    rec.reconcile("web", fresh=True)
    rec.reconcile("web", reasons=frozenset({"drift"}))
    assert sorted(parts.drift_checks) == [("a", True), ("b", True)]
    assert "drift" not in kinds(store)  # nothing drifted, nothing recorded
    parts.drifted = ["Deployment default/web: spec.replicas (changed by kubectl)"]
    rec.reconcile("web", reasons=frozenset({"drift"}))
    drift = [e for e in store.history("web") if e.kind == "drift"]
    assert len(drift) == 2 and all("(healed)" in e.message for e in drift)


def test_apps_reconciled_together_share_one_poll_per_repository(store: state.Store) -> None:
    import dataclasses

    parts = fakes.FakeParts()
    base = fakes.config()
    twin = dataclasses.replace(base.apps[0], name="web2", namespace="web2")
    cfg = dataclasses.replace(base, apps=(base.apps[0], twin))
    inputs = inputs_.Inputs(config=cfg, parts=parts, store=store)
    rec = app_.Reconciler(config=cfg, store=store, parts=parts, inputs=inputs)
    assert rec.reconcile("web", fresh=True).ok
    assert rec.reconcile("web2", fresh=True).ok
    assert parts.calls == {"poll_source": 1, "decide": 1}
    # A poll job always asks, and reports both apps when the tag moves.
    parts.tag = "1.1.0"
    assert inputs.poll_images("reg.example/team/web") == {"web", "web2"}
    assert parts.calls["decide"] == 2


def test_failed_apply_is_retried_only_when_a_person_asks(store: state.Store) -> None:
    parts = fakes.FakeParts()
    parts.blocked = {"b"}
    rec = make(store, parts)
    out = rec.reconcile("web", fresh=True)
    assert out.clusters == {"a": records.HEALTHY, "b": records.FAILED}
    parts.blocked = set()  # e.g. RBAC fixed in the cluster
    assert rec.reconcile("web", reasons=frozenset({"poll"})).clusters == {}
    again = rec.reconcile("web", reasons=frozenset({"manual"}), fresh=True)
    assert again.ok and again.clusters == {"b": records.HEALTHY}


def test_a_repeated_error_is_recorded_once(store: state.Store) -> None:
    parts = fakes.FakeParts()
    parts.registry_down = True
    rec = make(store, parts)
    for _ in range(3):
        assert not rec.reconcile("web", fresh=True).ok
    assert kinds(store).count("error") == 1
    (err,) = store.errors("web")
    assert err.count == 3


def test_soak_gate_is_looked_at_again_when_it_ends(store: state.Store) -> None:
    """The controller schedules a re-check for when the soak ends; nothing else polls."""
    import dataclasses
    import time

    from syncer import controller
    from syncer.config import model

    parts = fakes.FakeParts()
    base = fakes.config(clusters=("dev", "prod"))
    app = dataclasses.replace(
        base.apps[0],
        clusters=model.ClusterSelection(),
        images=(dataclasses.replace(base.apps[0].images[0], interval=3600),),
        sync=dataclasses.replace(base.apps[0].sync, drift_interval=3600),
    )
    source = dataclasses.replace(
        base.sources[0], git=dataclasses.replace(base.sources[0].git, interval=3600)
    )
    stages = (
        model.Stage(name="dev", clusters=model.ClusterSelection(names=("dev",))),
        model.Stage(
            name="prod", clusters=model.ClusterSelection(names=("prod",)), after="dev", soak=1.0
        ),
    )
    cfg = dataclasses.replace(
        base,
        sources=(source,),
        apps=(app,),
        pipelines=(model.Pipeline(app="web", stages=stages),),
    )
    ctl = controller.Controller(config=cfg, store=store, parts=parts)
    ctl.start()
    try:
        deadline = time.monotonic() + 10
        while {d.cluster for d in store.deployments("web") if d.healthy} != {"dev", "prod"}:
            assert time.monotonic() < deadline, store.history("web")
            time.sleep(0.05)
    finally:
        ctl.stop(timeout=5)
    kinds_ = [(e.kind, e.cluster) for e in reversed(store.history("web", limit=50))]
    assert kinds_.index(("healthy", "dev")) < kinds_.index(("healthy", "prod"))


def test_a_suspended_app_is_decided_and_planned_but_nothing_is_applied(
    store: state.Store,
) -> None:
    parts = fakes.FakeParts()
    rec = make(store, parts)
    assert rec.reconcile("web", fresh=True).ok
    store.hold(app="web", stage="", kind=records.SUSPEND, by="alice")
    parts.tag = "1.1.0"
    applied = len(parts.applies)
    out = rec.reconcile("web", fresh=True, reasons=frozenset({"manual"}))
    assert out.ok and out.clusters == {} and len(parts.applies) == applied
    assert "suspended by alice" in out.message and "nothing applied" in out.message
    assert store.releases("web")[0].images[0].tag == "1.1.0"  # still polled and decided
    assert [heal for _c, heal in parts.drift_checks] == [False, False]  # reported, not healed
    report = plan_.plan_app(config=rec.config, parts=parts, store=store, name="web")
    assert report.clusters and all(
        c.gate.startswith("suspended by alice at ") and "nothing applied" in c.gate
        for c in report.clusters
    )
    assert not report.changes
    store.release_holds(app="web", stage=None, by="alice")
    out = rec.reconcile("web", fresh=True)
    assert out.clusters == {"a": records.HEALTHY, "b": records.HEALTHY}
    after = plan_.plan_app(config=rec.config, parts=parts, store=store, name="web")
    assert [c.gate for c in after.clusters] == ["", ""]


def test_a_manual_retry_after_a_fixed_403_reuses_the_release_rollout(store: state.Store) -> None:
    parts = fakes.FakeParts()
    parts.blocked.add("b")  # the API refused syncer's writes (HTTP 403)
    rec = make(store, parts)
    out = rec.reconcile("web", fresh=True, reasons=frozenset({"manual"}))
    assert out.clusters == {"a": "healthy", "b": "failed"}

    parts.blocked.clear()  # RBAC fixed
    out = rec.reconcile("web", fresh=True, reasons=frozenset({"manual"}))
    assert out.ok and out.clusters == {"b": "healthy"}, out.message

    (rollout,) = store.rollouts("web")
    assert rollout.release_id == out.release
    assert sorted((t.cluster, t.state, t.attempts) for t in rollout.targets) == [
        ("a", "healthy", 1),
        ("b", "healthy", 2),
    ]
    assert kinds(store).count("rollout") == 1
    retries = [e.message for e in store.history("web", limit=50) if e.kind == "retry"]
    assert retries == [f"retrying {out.release[:12]} on b (sync requested)"]


def test_an_error_found_again_after_a_restart_is_in_history_once(store: state.Store) -> None:
    """A pipeline that cannot be planned fails every reconcile (each one a restarted
    ``syncer sync``): its error is written once, not once per pass."""
    from syncer.config import model

    parts = fakes.FakeParts()
    cfg = pipeline_config(window=model.TimeWindow(cron="0 0 31 2 *", duration=3600))
    for _restart in range(3):
        inputs = inputs_.Inputs(config=cfg, parts=parts, store=store, fresh_window=0)
        rec = app_.Reconciler(config=cfg, store=store, parts=parts, inputs=inputs)
        out = rec.reconcile("web", fresh=True, reasons=frozenset({"manual"}))
        assert not out.ok and out.stage == "pipeline", out.message
    errors = [e.message for e in store.history("web", limit=100) if e.kind == "error"]
    assert len(errors) == 1, errors


def test_a_restart_polls_each_repository_once_however_long_the_first_pass_takes(
    store: state.Store,
) -> None:
    import dataclasses
    import time

    from syncer import controller

    class SlowApplies(fakes.FakeParts):
        def apply(self, **kw: Any) -> Any:
            time.sleep(0.05)  # a real apply takes time: the start-up pass outlasts 2 s
            return super().apply(**kw)

    base = fakes.config()
    apps = tuple(
        dataclasses.replace(base.apps[0], name=f"web{n}", namespace=f"web{n}") for n in range(160)
    )
    # Few workers, so that the start-up pass outlasts the fresh window.
    cfg = dataclasses.replace(
        base, apps=apps, settings=dataclasses.replace(base.settings, workers=4)
    )
    parts = SlowApplies()
    for restart, tag in enumerate(("1.0.0", "1.1.0")):  # pushed while syncer was down
        parts.tag = tag
        ctl = controller.Controller(config=cfg, store=store, parts=parts)
        started = time.monotonic()
        ctl.start()
        try:
            assert ctl.wait_idle(60)
            took = time.monotonic() - started
        finally:
            ctl.stop(timeout=5)
        assert took > inputs_.FRESH_WINDOW  # the case that used to re-poll
        # One registry decision and one Git poll for the 160 apps, first start or restart.
        assert parts.calls == {"poll_source": restart + 1, "decide": restart + 1}
        assert sum(f":{tag}@" in image for _, image in parts.applies) == 2 * len(apps)


def test_poll_jobs_run_one_interval_after_the_start_up_pass_polled_their_repository(
    store: state.Store,
) -> None:
    """A repository whose apps come late in the start-up pass is polled by it late: its
    poll job runs one interval after that, not one interval after the start (which
    would poll it again moments later, during the same pass)."""
    import dataclasses

    from syncer import controller
    from syncer.config import model

    polled: dict[str, float] = {}

    class SlowApplies(fakes.FakeParts):
        def apply(self, **kw: Any) -> Any:
            time.sleep(0.05)  # the pass takes 1 s or more: "late" is late
            return super().apply(**kw)

        def decide(self, image: model.AppImage, **kw: Any) -> Any:
            polled.setdefault(image.repository, time.time())
            return super().decide(image, **kw)

    base = fakes.config()
    apps = tuple(
        dataclasses.replace(
            base.apps[0], name=f"{repo}{n}", namespace=f"{repo}{n}",
            images=(dataclasses.replace(base.apps[0].images[0], repository=f"reg.example/{repo}"),),
        )
        for repo in ("early", "late") for n in range(40)
    )  # fmt: skip
    cfg = dataclasses.replace(
        base, apps=apps, settings=dataclasses.replace(base.settings, workers=2, jitter=0.0)
    )
    ctl = controller.Controller(config=cfg, store=store, parts=SlowApplies())
    ctl.start()
    try:
        assert ctl.wait_idle(60)
        assert polled["reg.example/late"] > polled["reg.example/early"] + 0.5  # late indeed
        for repo, at in polled.items():
            job = ctl._jobs._scheduler.get_job(f"image:{repo}")
            # One interval (the default 1m) after the pass polled it, not before.
            assert job.next_run_time.timestamp() >= at + 60 - 0.1, repo
    finally:
        ctl.stop(timeout=5)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_rollout_waiting_for_health_leaves_the_worker_and_finishes_on_a_later_pass(
    store: state.Store,
) -> None:
    """``syncer run``: the pass that applies does not wait out ``sync.wait``; it leaves
    the target applied, asks to hear of the app's objects changing, and says when to
    look again; a later pass finds it healthy."""
    parts = fakes.FakeParts()
    clock = Clock()
    rec = make(store, parts)
    rec.health_waits = target_.HealthWaits(hold=0.2, clock=clock)
    parts.slow_tags = {"1.0.0"}
    first = rec.reconcile("web", fresh=True)
    assert first.ok, first.message
    assert first.clusters == {"a": records.APPLIED, "b": records.APPLIED}
    assert {timeout for _, timeout in parts.waits} == {0.2}  # a short look, not sync.wait
    assert sorted(parts.awaiting) == [("web", "a"), ("web", "b")]
    assert first.look_again is not None and first.look_again > time.time()
    assert kinds(store).count("healthy") == 0
    clock.now += 0.3
    still = rec.reconcile("web", reasons=frozenset({"health"}))
    assert still.clusters == {"a": records.APPLIED, "b": records.APPLIED}
    # Brought back by a change or its scheduled look: one look, the worker not held again.
    assert [timeout for _, timeout in parts.waits[2:]] == [0.0, 0.0]
    assert still.look_again is not None
    parts.slow_tags = set()
    clock.now += 0.2
    second = rec.reconcile("web", reasons=frozenset({"health"}))
    assert second.clusters == {"a": records.HEALTHY, "b": records.HEALTHY}
    assert second.look_again is None
    assert len(parts.applies) == 2  # applied once; the later pass only looked
    assert kinds(store).count("healthy") == 2


def test_an_apply_holds_no_worker_while_other_apps_wait_for_one(store: state.Store) -> None:
    """With apps queued behind it, a rollout goes on right after its apply: a big
    rollout is applied at the pace of the applies, its health seen by later looks."""
    parts = fakes.FakeParts()
    rec = make(store, parts)
    rec.health_waits = target_.HealthWaits(hold=0.2, clock=Clock())
    rec.health_waits.crowded = lambda: True
    parts.slow_tags = {"1.0.0"}
    first = rec.reconcile("web", fresh=True)
    assert first.clusters == {"a": records.APPLIED, "b": records.APPLIED}
    assert [timeout for _, timeout in parts.waits] == [0.0, 0.0]
    rec.health_waits.crowded = lambda: False
    parts.tag = "1.1.0"
    parts.slow_tags = {"1.1.0"}
    rec.reconcile("web", fresh=True)
    assert [timeout for _, timeout in parts.waits[2:]] == [0.2, 0.2]  # the queue is empty


def test_a_wait_across_passes_still_ends_at_sync_wait_and_rolls_back(store: state.Store) -> None:
    parts = fakes.FakeParts()
    clock = Clock()
    rec = make(store, parts)  # sync.wait 1 s
    good = rec.reconcile("web", fresh=True).release
    rec.health_waits = target_.HealthWaits(hold=0.2, clock=clock)
    parts.tag, parts.slow_tags = "1.2.0", {"1.2.0"}
    first = rec.reconcile("web", fresh=True)
    assert first.clusters == {"a": records.APPLIED, "b": records.APPLIED}
    clock.now += 0.7  # 0.3 s of the wait left: the next look is shorter
    second = rec.reconcile("web", reasons=frozenset({"health"}))
    assert second.clusters == {"a": records.APPLIED, "b": records.APPLIED}
    assert {round(t, 2) for c, t in parts.waits[-2:]} == {0.0}  # a look, not held again
    clock.now += 0.5  # past sync.wait
    third = rec.reconcile("web", reasons=frozenset({"health"}))
    assert third.clusters == {"a": records.ROLLED_BACK, "b": records.ROLLED_BACK}
    assert {d.release_id for d in store.deployments("web")} == {good}
    assert third.look_again is None


@pytest.mark.parametrize("brought_back_by", ["health", "poll"])
def test_a_cluster_still_waiting_on_a_release_rejected_elsewhere_gets_its_own_verdict(
    store: state.Store, brought_back_by: str
) -> None:
    """Cluster a finds 1.2.0 unhealthy while b still waits for it (a later look holds
    no worker, so b's verdict may come passes later): whatever brings the app back in
    between, b is not moved to the last good release as an ordinary rollout; its own
    verdict comes, and its rollback is recorded as one."""
    parts = fakes.FakeParts()
    clock = Clock()
    rec = make(store, parts)
    good = rec.reconcile("web", fresh=True).release
    rec.health_waits = target_.HealthWaits(hold=0.2, clock=clock)
    parts.tag, parts.bad_tags, parts.bad_on, parts.slow_tags = "1.2.0", {"1.2.0"}, {"a"}, {"1.2.0"}
    first = rec.reconcile("web", fresh=True)
    assert first.clusters == {"a": records.ROLLED_BACK, "b": records.APPLIED}
    assert first.release in store.rejected("web")
    parts.tag = "1.0.0"  # with 1.2.0 held back, the policy's pick is the last good image

    def brought_back() -> app_.Outcome:
        clock.now += 0.2
        if brought_back_by == "health":
            return rec.reconcile("web", reasons=frozenset({"health"}))
        return rec.reconcile("web", fresh=True)

    assert brought_back().clusters == {"b": records.APPLIED}  # still waiting, not moved
    applies = len(parts.applies)
    parts.bad_on = {"a", "b"}  # b's own verdict
    assert brought_back().clusters == {"b": records.ROLLED_BACK}
    assert len(parts.applies) == applies + 1  # the rollback's apply on b
    assert {d.release_id for d in store.deployments("web")} == {good}
    history = store.history("web", limit=50)
    assert sorted(e.cluster for e in history if e.kind == "unhealthy") == ["a", "b"]
    assert sorted(e.cluster for e in history if e.kind == "rollback") == ["a", "b"]
    latest = store.latest_targets("web")
    assert store.get_rollout(latest["b"].rollout_id).cause == "rollback"  # type: ignore[union-attr]
    assert rec.health_waits.waiting_apps() == []
    assert rec.reconcile("web", fresh=True).clusters == {}
    assert len(parts.applies) == applies + 1


def test_a_newer_release_drops_the_wait_of_the_one_it_supersedes(store: state.Store) -> None:
    parts = fakes.FakeParts()
    rec = make(store, parts)
    rec.health_waits = target_.HealthWaits(hold=0.2, clock=Clock())
    parts.slow_tags = {"1.0.0"}
    assert rec.reconcile("web", fresh=True).look_again is not None
    parts.tag = "1.1.0"
    out = rec.reconcile("web", fresh=True)
    assert out.clusters == {"a": records.HEALTHY, "b": records.HEALTHY}
    assert out.look_again is None
    assert rec.health_waits.waiting_apps() == []


def test_a_suspended_app_drops_its_health_waits_and_begins_them_again_when_resumed(
    store: state.Store,
) -> None:
    """A held rollout is not looked at, so no look is asked for (an overdue one would
    bring the app back pass after pass); resumed, its wait begins again."""
    parts = fakes.FakeParts()
    clock = Clock()
    rec = make(store, parts)
    rec.health_waits = target_.HealthWaits(hold=0.2, clock=clock)
    parts.slow_tags = {"1.0.0"}
    assert rec.reconcile("web", fresh=True).look_again is not None
    store.hold(app="web", stage="", kind=records.SUSPEND, by="ops", reason="maintenance")
    clock.now += 5.0
    held = rec.reconcile("web", reasons=frozenset({"health"}))
    assert held.look_again is None
    assert rec.health_waits.waiting_apps() == []
    store.release_holds(app="web", stage=None, by="ops")
    parts.slow_tags = set()
    resumed = rec.reconcile("web", reasons=frozenset({"health"}))
    assert resumed.clusters == {"a": records.HEALTHY, "b": records.HEALTHY}
