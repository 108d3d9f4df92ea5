"""A running controller whose Git source fails (branch deleted, server down): the app
reads Degraded with the error in status and history, ``/readyz`` names the source, a
metric counts the failures per source, and all of it clears when the source is back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncer import controller, metrics
from tests.controller.test_cli_live import CONFIGMAP, write_config
from tests.controller.test_controller_live import greeting, wait_until

pytestmark = pytest.mark.integration


def git_errors(source: str, reason: str) -> float:
    return metrics.value("syncer_git_errors_total", source=source, reason=reason)


def status(ctl: controller.Controller) -> dict[str, Any]:
    return ctl.app_status("site") or {}


def test_a_failing_git_source_is_shown_counted_and_cleared(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "one"})
    path = write_config(
        tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"],
        git={"interval": "0.3s", "timeout": "5s"},
    )  # fmt: skip
    session = controller.open_session(str(path))
    ctl = session.controller
    ctl.start()
    try:
        wait_until(lambda: greeting(a) == "one", what="first rollout")
        wait_until(lambda: status(ctl).get("status") == "Healthy", what="healthy")
        head = repo.head()
        missing_before = git_errors("deploy", "ref-not-found")

        # The branch is deleted: the app keeps running what it has, and says why.
        repo.delete_branch("main")
        wait_until(lambda: status(ctl).get("status") == "Degraded", what="Degraded")
        (error,) = status(ctl)["errors"]
        assert error["stage"] == "source"
        assert "main" in error["message"] and f"keeping commit {head[:12]}" in error["message"]
        assert git_errors("deploy", "ref-not-found") > missing_before
        ready, reason = ctl.ready()
        assert ready and "git source deploy failing:" in reason
        assert greeting(a) == "one"

        # Back: the next poll clears it.
        repo.move_branch("main", head)
        wait_until(lambda: status(ctl).get("status") == "Healthy", what="Healthy again")
        assert status(ctl)["errors"] == []
        assert "failing" not in ctl.ready()[1]

        # The server goes down: the same, as unreachable; and back again.
        unreachable_before = git_errors("deploy", "unreachable")
        git_http.stop()
        wait_until(lambda: status(ctl).get("status") == "Degraded", what="Degraded (down)")
        (error,) = status(ctl)["errors"]
        assert "unreachable" in error["message"], error
        assert git_errors("deploy", "unreachable") > unreachable_before
        git_http.start()
        repo.commit({"site/cm.yaml": CONFIGMAP % "two"})
        wait_until(lambda: greeting(a) == "two", what="the commit made while it was down")
        wait_until(lambda: status(ctl).get("status") == "Healthy", what="Healthy at last")

        # History has each error once, however many polls failed.
        errors = [e["message"] for e in ctl.history("site", 200) if e["kind"] == "error"]
        assert len(errors) == len(set(errors)) == 2, errors
    finally:
        ctl.stop(timeout=10)
        session.store.close()
