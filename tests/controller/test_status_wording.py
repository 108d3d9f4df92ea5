"""What ``syncer status`` and the API say while a pipeline waits, after a refusal, and
for a cluster that never got a release."""

from __future__ import annotations

import dataclasses

from syncer import controller, state
from syncer.commands import status as status_cmd
from syncer.config import model
from syncer.server import api, users
from tests.controller import fakes


def pipeline_controller(store: state.Store, parts: fakes.FakeParts) -> controller.Controller:
    base = fakes.config(clusters=("dev", "prod"))
    app = dataclasses.replace(base.apps[0], clusters=model.ClusterSelection())
    stages = (
        model.Stage(name="dev", clusters=model.ClusterSelection(names=("dev",))),
        model.Stage(
            name="prod",
            clusters=model.ClusterSelection(names=("prod",)),
            after="dev",
            approval=True,
        ),
    )
    cfg = dataclasses.replace(
        base, apps=(app,), pipelines=(model.Pipeline(app="web", stages=stages),)
    )
    return controller.Controller(config=cfg, store=store, parts=parts)


def test_waiting_for_approval_is_progressing_not_healthy(store: state.Store) -> None:
    ctl = pipeline_controller(store, fakes.FakeParts())
    ctl.reconciler.reconcile("web", fresh=True)
    status = ctl.app_status("web")
    assert status is not None
    assert status["status"] == "Progressing", status
    assert status["healthy"] is True  # what runs (dev) is healthy
    text = status_cmd.text([status])
    assert text.splitlines()[1].split()[:2] == ["web", "Progressing"]
    assert "stage prod: waiting for approval of release" in text
    ctl.approve("web", "prod")
    ctl.reconciler.reconcile("web", fresh=True)
    assert ctl.app_status("web")["status"] == "Healthy"  # type: ignore[index]


def test_refusal_upstream_reads_failed_with_its_reason(store: state.Store) -> None:
    parts = fakes.FakeParts()
    parts.blocked = {"dev"}
    ctl = pipeline_controller(store, parts)
    ctl.reconciler.reconcile("web", fresh=True)
    status = ctl.app_status("web")
    assert status is not None
    assert status["status"] != "Healthy"
    reason = "cluster dev: forbidden: deployments"
    prod = next(s for s in status["stages"] if s["name"] == "prod")
    assert prod["message"] == f"stage prod: blocked: stage dev failed: {reason}"
    assert not any("unhealthy" in w for w in status["waiting"]), status["waiting"]
    dev = next(s for s in status["stages"] if s["name"] == "dev")
    assert dev["message"].endswith(f"failed in cluster dev: {reason}"), dev["message"]


def test_approve_of_an_unknown_stage_is_a_400_listing_the_stages(store: state.Store) -> None:
    ctl = pipeline_controller(store, fakes.FakeParts())
    ctl.reconciler.reconcile("web", fresh=True)
    admin = users.User(name="alice", role=users.ADMIN)
    code, body = api.post(
        port=ctl, parts=["apps", "web", "approve"], body={"stage": "prd"}, user=admin
    )
    assert code == 400
    assert body == {"error": "no stage 'prd' in the pipeline of 'web' (stages: dev, prod)"}
    code, body = api.post(
        port=ctl, parts=["apps", "web", "approve"], body={"stage": "prod"}, user=admin
    )
    assert code == 200 and body["stage"] == "prod" and body["approvedBy"] == "alice"


def test_a_cluster_that_never_got_a_release_reads_not_deployed(store: state.Store) -> None:
    parts = fakes.FakeParts()
    parts.down = {"b"}
    ctl = controller.Controller(config=fakes.config(), store=store, parts=parts)
    ctl.reconciler.reconcile("web", fresh=True)
    text = status_cmd.text(ctl.apps_status())
    table = text.split("\n\n")[0].splitlines()
    rows = {row.split()[2]: row.split() for row in table[1:]}
    assert rows["a"][3] == "Healthy" and rows["b"][4] == "-", text  # b: no release
    line = next(x for x in text.splitlines() if x.startswith("web: b: "))
    assert line.startswith("web: b: not deployed: "), text
    assert "connection refused" in line
    assert "not healthy" not in line
