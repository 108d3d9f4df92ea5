"""The CLI against real parts: ``syncer sync``, ``plan``, ``status``, ``history`` and
``rollback`` with a real Git server and two clusters of the API test server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import cli

pytestmark = pytest.mark.integration

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: site}
data: {GREETING: %s}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: site}
spec:
  replicas: 1
  progressDeadlineSeconds: 30
  selector: {matchLabels: {app: site}}
  template:
    metadata: {labels: {app: site}}
    spec:
      containers:
        - {name: web, image: "%s"}
"""
# The same, failed by the Deployment controller after 2s without progress.
QUICK_FAILING_DEPLOYMENT = DEPLOYMENT.replace(
    "progressDeadlineSeconds: 30", "progressDeadlineSeconds: 2"
)


def write_config(
    tmp: Path,
    *,
    url: str,
    kubeconfig: str,
    clusters: list[str],
    git: dict[str, Any] | None = None,
) -> Path:
    data = {
        "sources": [{"name": "deploy", "git": {"url": url, "branch": "main", **(git or {})}}],
        "clusters": [
            {"name": name, "kubeconfig": kubeconfig, "context": name} for name in clusters
        ],
        "apps": [
            {
                "name": "site",
                "source": "deploy",
                "path": "site",
                "namespace": "site",
                "clusters": clusters,
                "sync": {"wait": "3s"},
            }
        ],
        "state": {"path": "state/syncer.db"},
    }
    path = tmp / "syncer.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def site(cluster: Any) -> dict[str, Any]:
    """The app's ConfigMap (``{}`` when it does not exist)."""
    result: dict[str, Any] | None = cluster.get("v1", "ConfigMap", "site", namespace="site")
    return result or {}


def test_sync_status_history_and_rollback(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = kube_clusters(2, names=["a", "b"], workload_delay=0.02)
    repo = git_http.create_repo(
        "deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/deploy.yaml": DEPLOYMENT % "web:1"}
    )
    config = str(write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a", "b"]))

    code, out, err = run(capsys, "sync", "-c", config)
    assert code == 0, out + err
    assert "site: ok release" in out
    assert site(a)["data"] == {"GREETING": "one"} and site(b)["data"] == {"GREETING": "one"}

    # Nothing changed: a second sync writes nothing to either cluster.
    a.request_log.clear()
    b.request_log.clear()
    code, out, _ = run(capsys, "sync", "-c", config)
    assert code == 0 and "up to date" in out
    assert a.request_log.writes() == 0 and b.request_log.writes() == 0

    repo.commit({"site/cm.yaml": CONFIGMAP % "two"})
    code, out, _ = run(capsys, "sync", "-c", config, "-o", "json")
    assert code == 0
    (entry,) = json.loads(out)
    second = entry["release"]
    assert entry["clusters"] == {"a": "healthy", "b": "healthy"}
    assert site(a)["data"] == {"GREETING": "two"}

    code, out, _ = run(capsys, "status", "-c", config, "-o", "json")
    (status,) = json.loads(out)
    assert status["status"] == "Healthy" and status["release"] == second

    code, out, _ = run(capsys, "rollback", "-c", config, "site")
    assert code == 0, out
    assert site(a)["data"] == {"GREETING": "one"} and site(b)["data"] == {"GREETING": "one"}
    # The rollback pins the app: sync does not bring the newer release back.
    code, out, _ = run(capsys, "sync", "-c", config)
    assert site(a)["data"] == {"GREETING": "one"}
    assert "pinned to" in out and "`syncer resume site`" in out
    # Resumed, the app follows new releases; the one rolled back from stays out.
    code, out, _ = run(capsys, "resume", "-c", config, "site")
    assert code == 0 and "resumed" in out
    code, out, _ = run(capsys, "sync", "-c", config)
    assert site(a)["data"] == {"GREETING": "one"}
    assert "not rolled out" in out

    code, out, _ = run(capsys, "history", "-c", config, "site")
    assert code == 0
    assert out.splitlines()[0].split() == ["TIME", "KIND", "CLUSTER", "MESSAGE"]
    # TIME is a date and a time: KIND and CLUSTER are the third and fourth words.
    rows = [line.split()[2:4] for line in out.splitlines()[1:]]
    assert ["healthy", "a"] in rows and "rollback" in {kind for kind, _ in rows}, out

    code, out, err = run(capsys, "history", "-c", config, "nope")
    assert code == 2 and "no app named 'nope'" in err


def test_failing_image_is_rolled_back_and_sync_fails(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    a.fail_image("web:broken")
    repo = git_http.create_repo(
        "deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/deploy.yaml": DEPLOYMENT % "web:1"}
    )
    config = str(write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"]))
    assert run(capsys, "sync", "-c", config)[0] == 0
    repo.commit({"site/deploy.yaml": QUICK_FAILING_DEPLOYMENT % "web:broken"})
    code, out, _ = run(capsys, "sync", "-c", config)
    assert code == 1
    assert "a: rolled-back" in out
    live = a.get("apps/v1", "Deployment", "site", namespace="site")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"


def test_missing_kubeconfig_plans_offline_and_exits_1(
    tmp_path: Path,
    git_http: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "one"})
    data = yaml.safe_load(
        write_config(tmp_path, url=repo.url, kubeconfig="", clusters=["current"]).read_text()
    )
    data["clusters"] = [{"name": "current"}]
    path = tmp_path / "syncer.yaml"
    path.write_text(yaml.safe_dump(data))
    code, out, err = run(capsys, "sync", "-c", str(path))
    assert code == 1, err
    assert (
        "cluster current: no kubeconfig ($KUBECONFIG unset, ~/.kube/config missing): "
        "planned only, nothing applied" in out
    )
    assert "GREETING: one" in out  # what would be applied is shown

    code, out, _ = run(capsys, "plan", "-c", str(path), "-o", "json")
    assert code == 1
    (report,) = json.loads(out)
    assert report["clusters"][0]["reachable"] is False


def test_unreachable_cluster_is_planned_while_the_other_is_synced(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = kube_clusters(2, names=["a", "b"], workload_delay=0.02)
    b.stop()
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "one"})
    config = str(write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a", "b"]))
    code, out, _ = run(capsys, "sync", "-c", config)
    assert code == 1
    assert "cluster a: healthy" in out
    assert "cluster b: API unreachable" in out and "planned only, nothing applied" in out
    assert site(a)["data"] == {"GREETING": "one"}
    b.start()
    code, out, _ = run(capsys, "sync", "-c", config)
    assert code == 0, out
    assert site(b)["data"] == {"GREETING": "one"}
