"""An image policy that matches no container (here: the registry's port differs from the
manifests') is said in `syncer plan`'s notes, and in history and status once per release."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from syncer import controller, release, state
from syncer.commands import status as status_cmd
from syncer.config import model
from syncer.reconcile import app as app_
from syncer.reconcile import inputs as inputs_
from syncer.reconcile import parts
from syncer.reconcile import plan as plan_
from tests.controller import fakes

IN_GIT = "reg.example:5000/team/web:1.0"


class OtherPort(fakes.FakeParts):
    """Manifests name the image on another port than the policy's repository."""

    def render(
        self,
        *,
        app: model.App,
        cluster: model.Cluster,
        snapshot: parts.Snapshot,
        images: Sequence[release.Image],
    ) -> list[dict[str, Any]]:
        objs = super().render(app=app, cluster=cluster, snapshot=snapshot, images=images)
        objs[0]["spec"]["template"]["spec"]["containers"][0]["image"] = IN_GIT
        return objs


EXPECTED = (
    "image policy reg.example/team/web (semver:^1) matches no container image in the "
    f"rendered objects; images found: {IN_GIT}"
)


def test_plan_notes_it(store: state.Store) -> None:
    report = plan_.plan_app(config=fakes.config(), parts=OtherPort(), store=store, name="web")
    assert EXPECTED in report.notes, report.notes
    assert report.notes.count(EXPECTED) == 1  # two clusters, one note


def test_plan_is_quiet_when_the_policy_matches(store: state.Store) -> None:
    report = plan_.plan_app(config=fakes.config(), parts=fakes.FakeParts(), store=store, name="web")
    assert not any("matches no container" in n for n in report.notes), report.notes


def test_history_and_status_say_it_once_per_release(store: state.Store) -> None:
    parts_ = OtherPort()
    ctl = controller.Controller(config=fakes.config(), store=store, parts=parts_)
    for _ in range(3):  # polls of the same release
        ctl.reconciler.reconcile("web", fresh=True)
    warnings = [e for e in store.history("web", limit=100) if e.kind == "warning"]
    assert [e.message for e in warnings] == [f"images: {EXPECTED}"]
    status = ctl.app_status("web")
    assert status is not None
    assert status["warnings"] == [f"images: {EXPECTED}"]
    assert f"web: warning: images: {EXPECTED}" in status_cmd.text([status])


def test_a_new_release_is_checked_again(store: state.Store) -> None:
    parts_ = OtherPort()
    cfg = fakes.config()
    inputs = inputs_.Inputs(config=cfg, parts=parts_, store=store, fresh_window=0)
    rec = app_.Reconciler(config=cfg, store=store, parts=parts_, inputs=inputs)
    rec.reconcile("web", fresh=True)
    parts_.tag = "1.1.0"
    second = rec.reconcile("web", fresh=True).release
    warnings = [e for e in store.history("web", limit=100) if e.kind == "warning"]
    assert len(warnings) == 2 and warnings[0].release_id == second
