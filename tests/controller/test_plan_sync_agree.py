"""``syncer plan`` and ``syncer sync`` agree, end to end: a hand-made object is refused by
both until adoption is asked for, and a migration Job in sync wave -1 is replaced when
its image changes (the README's sync-wave pattern, release after release)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import cli
from tests.waiting import eventually

pytestmark = pytest.mark.integration

JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {syncer.io/sync-wave: "-1"}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: migrate, image: "%s"}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: site}
spec:
  replicas: 1
  selector: {matchLabels: {app: site}}
  template:
    metadata: {labels: {app: site}}
    spec:
      containers:
        - {name: web, image: "web:1"}
"""
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: adoptme
%s
data: {k: from-git}
"""


def write_config(tmp: Path, *, url: str, kubeconfig: str) -> str:
    data = {
        "sources": [{"name": "deploy", "git": {"url": url, "branch": "main"}}],
        "clusters": [{"name": "a", "kubeconfig": kubeconfig, "context": "a"}],
        "apps": [
            {
                "name": "site",
                "source": "deploy",
                "path": "site",
                "namespace": "site",
                "clusters": ["a"],
                "sync": {"wait": "5s", "rollbackOnFailure": False},
            }
        ],
        "state": {"path": "state/syncer.db"},
    }
    path = tmp / "syncer.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out + err


def test_migration_job_is_replaced_when_its_image_changes(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    a.fail_image("migrate:broken")
    repo = git_http.create_repo(
        "deploy", {"site/job.yaml": JOB % "migrate:broken", "site/deploy.yaml": DEPLOYMENT}
    )
    config = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig)
    code, out = run(capsys, "sync", "-c", config)
    assert code == 1 and "sync wave -1 is not healthy" in out, out
    assert a.get("apps/v1", "Deployment", "site", namespace="site") is None

    repo.commit({"site/job.yaml": JOB % "migrate:2"})
    code, out = run(capsys, "plan", "-c", config)
    assert code == 0, out
    assert "cluster a: 1 create, 1 replace" in out

    code, out = run(capsys, "sync", "-c", config)
    assert code == 0, out
    job = a.get("batch/v1", "Job", "migrate", namespace="site")
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "migrate:2"
    assert a.get("apps/v1", "Deployment", "site", namespace="site") is not None
    code, out = run(capsys, "history", "-c", config, "site")
    assert code == 0 and "replaced Job site/migrate" in out, out


def test_a_hand_made_object_is_refused_by_plan_and_sync_until_adopted(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    a.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "site"}})
    a.put(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "adoptme", "namespace": "site"},
            "data": {"k": "handmade"},
        },
        manager="kubectl-create",
    )
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % ""})
    config = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig)
    refusal = "ConfigMap site/adoptme already exists on the cluster and was not created by syncer"
    for command in ("plan", "sync"):
        code, out = run(capsys, command, "-c", config)
        assert code == 1, out
        assert refusal in out and "syncer.io/adopt" in out, (command, out)
    assert a.get("v1", "ConfigMap", "adoptme", namespace="site")["data"] == {"k": "handmade"}

    repo.commit({"site/cm.yaml": CONFIGMAP % '  annotations: {syncer.io/adopt: "true"}'})
    code, out = run(capsys, "plan", "-c", config)
    assert code == 0, out
    assert "cluster a: 1 adopt" in out
    assert "adopted ConfigMap site/adoptme (was created by kubectl-create)" in out
    code, out = run(capsys, "sync", "-c", config)
    assert code == 0, out
    assert a.get("v1", "ConfigMap", "adoptme", namespace="site")["data"] == {"k": "from-git"}
    code, out = run(capsys, "history", "-c", config, "site")
    assert code == 0 and "adopted ConfigMap site/adoptme" in out, out


def test_a_rollout_over_the_namespace_quota_is_refused_by_plan_and_sync_with_the_numbers(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    small_quota(a, pods=2)
    assert eventually(lambda: quota_status(a, "used"))
    repo = git_http.create_repo(
        "deploy", {"site/deploy.yaml": DEPLOYMENT.replace("replicas: 1", "replicas: 3")}
    )
    config = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig)
    refusal = "namespace site quota small: pods would be 3 of 2 (used 0, this rollout +3)"
    for command in ("plan", "sync"):
        code, out = run(capsys, command, "-c", config)
        assert code == 1, out
        assert "rule checkQuota" in out and refusal in out, (command, out)
    assert a.get("apps/v1", "Deployment", "site", namespace="site") is None
    code, out = run(capsys, "history", "-c", config, "site")
    assert code == 0 and refusal in out, out
    code, out = run(capsys, "status", "-c", config, "site")
    assert "rule checkQuota" in out, out

    # The platform raises the quota: a person's sync tries the same release again.
    small_quota(a, pods=3)
    assert eventually(lambda: quota_status(a, "hard").get("pods") == "3")
    code, out = run(capsys, "sync", "-c", config)
    assert code == 0, out
    assert a.get("apps/v1", "Deployment", "site", namespace="site")["spec"]["replicas"] == 3


def quota_status(cluster: Any, field: str) -> dict[str, str]:
    found = cluster.get("v1", "ResourceQuota", "small", namespace="site") or {}
    return dict((found.get("status") or {}).get(field) or {})


def small_quota(cluster: Any, *, pods: int) -> None:
    """Namespace site (made when missing) may run this many pods."""
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "site"}})
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "small", "namespace": "site"},
            "spec": {"hard": {"pods": str(pods)}},
        }
    )
