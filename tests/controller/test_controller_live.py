"""The running controller against real Git and clusters: polls, Git webhooks, the API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import controller
from tests.controller.test_cli_live import CONFIGMAP, write_config

pytestmark = pytest.mark.integration


def wait_until(predicate: Any, *, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def greeting(cluster: Any) -> str:
    cm = cluster.get("v1", "ConfigMap", "site", namespace="site")
    return str((cm or {}).get("data", {}).get("GREETING", ""))


def test_poll_webhook_and_api(tmp_path: Path, git_http: Any, kube_clusters: Any) -> None:
    a, b = kube_clusters(2, names=["a", "b"], workload_delay=0.02)
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "one"})
    path = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a", "b"])
    data = yaml.safe_load(path.read_text())
    data["sources"][0]["git"]["interval"] = "1s"
    path.write_text(yaml.safe_dump(data))
    session = controller.open_session(str(path))
    ctl = session.controller
    assert ctl.ready() == (False, "starting")
    ctl.start()
    try:
        assert ctl.ready()[0]
        wait_until(lambda: greeting(a) == greeting(b) == "one", what="first rollout")
        # A commit is found by the next poll (interval 1s).
        repo.commit({"site/cm.yaml": CONFIGMAP % "two"})
        wait_until(lambda: greeting(a) == greeting(b) == "two", what="polled commit")

        # A push webhook names the repository (as another spelling of its URL).
        spelled = repo.url.replace("http://", "HTTP://").removesuffix(".git") + "/"
        names = ctl.trigger_git(spelled, "refs/heads/main")
        assert names == ["deploy"]
        assert ctl.trigger_git(repo.url, "refs/heads/other") == []
        assert ctl.trigger_git("https://elsewhere.example/x.git", None) == []

        summary = ctl.apps_status()
        assert [s["name"] for s in summary] == ["site"]
        wait_until(lambda: ctl.apps_status()[0]["status"] == "Healthy", what="healthy status")
        detail = ctl.app_status("site")
        assert detail is not None and len(detail["clusters"]) == 2
        assert ctl.app_status("nope") is None
        releases = ctl.releases("site")
        assert len(releases) == 2 and releases[0]["targets"][0]["state"] == "healthy"

        # Roll back through the API: queued, then carried out.
        answer = ctl.rollback("site", None)
        assert answer["to"] == releases[1]["id"]
        wait_until(lambda: greeting(a) == greeting(b) == "one", what="rollback applied")
        kinds = [e["kind"] for e in ctl.history("site", 100)]
        assert "rollback" in kinds

        assert ctl.sync_now("site") == {"app": "site", "scheduled": True}
        assert ctl.wait_idle(10)
        assert greeting(a) == "one"  # the rejected release stays out
    finally:
        ctl.stop(timeout=10)
        session.store.close()
    assert ctl.ready() == (False, "stopping")


def test_drift_by_someone_else_is_healed(tmp_path: Path, git_http: Any, kube_clusters: Any) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "one"})
    path = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"])
    data = yaml.safe_load(path.read_text())
    data["apps"][0]["sync"]["driftInterval"] = "1s"
    path.write_text(yaml.safe_dump(data))
    session = controller.open_session(str(path))
    ctl = session.controller
    ctl.start()
    try:
        wait_until(lambda: greeting(a) == "one", what="first rollout")
        live = a.get("v1", "ConfigMap", "site", namespace="site")
        live["data"]["GREETING"] = "edited by hand"
        a.put(live, manager="kubectl-edit")
        assert greeting(a) == "edited by hand"
        wait_until(lambda: greeting(a) == "one", what="drift healed")

        def drift_entries() -> list[dict[str, Any]]:
            return [e for e in ctl.history("site", 50) if e["kind"] == "drift"]

        # The heal is recorded once its apply returned, a moment after the cluster shows it.
        wait_until(lambda: bool(drift_entries()), what="drift recorded in history")
        drift = drift_entries()
        assert "(healed)" in drift[0]["message"], drift
    finally:
        ctl.stop(timeout=10)
        session.store.close()
