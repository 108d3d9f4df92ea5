"""``syncer plan`` exits 1 exactly when the sync would be refused (gateway, strict field
validation, unknown context, conflicts, immutable fields), naming the reason per
cluster, and 0 when it would succeed; drift taken back by self-heal is a diff, not an
error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import cli

pytestmark = pytest.mark.integration

GOOD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: site}
spec:
  %s: 2
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      containers:
        - {name: web, image: "127.0.0.1:5000/team/web:1.0.0"}
"""


def manifest(*, field: str = "replicas", selector: str = "site") -> str:
    return GOOD % (field, selector, selector)


def write_config(tmp: Path, *, url: str, kubeconfig: str, **app: Any) -> Path:
    data = {
        "sources": [{"name": "deploy", "git": {"url": url, "branch": "main"}}],
        "clusters": [
            {"name": "a", "kubeconfig": kubeconfig, "context": "a"},
            {"name": "b", "kubeconfig": kubeconfig, "context": app.pop("context_b", "b")},
        ],
        "apps": [
            {
                "name": "site",
                "source": "deploy",
                "path": "site",
                "namespace": "site",
                "clusters": ["a", "b"],
                "sync": {"wait": "3s"},
                **app,
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


@pytest.fixture
def setup(tmp_path: Path, git_http: Any, kube_clusters: Any) -> tuple[Any, list[Any], Any]:
    clusters = kube_clusters(2, names=["a", "b"], workload_delay=0.02)
    repo = git_http.create_repo("deploy", {"site/deploy.yaml": manifest()})
    return repo, clusters, tmp_path


def test_plan_exits_0_when_the_sync_would_succeed(
    setup: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, (a, _b), tmp = setup
    config = str(write_config(tmp, url=repo.url, kubeconfig=a.kubeconfig))
    code, out, _ = run(capsys, "plan", "-c", config)
    assert code == 0, out
    assert "cluster a: 1 create" in out and "cluster b: 1 create" in out


def test_gateway_violation_exits_1_with_indented_reasons(
    setup: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, (a, _b), tmp = setup
    config = write_config(
        tmp,
        url=repo.url,
        kubeconfig=a.kubeconfig,
        gateway={"allowedRegistries": ["127.0.0.1:35000"]},
    )
    code, out, _ = run(capsys, "plan", "-c", str(config))
    assert code == 1, out
    assert "cluster a: plan: gateway policy violated:" in out
    violation = next(line for line in out.splitlines() if "not from an allowed registry" in line)
    assert violation.startswith("      Deployment site/site: ")  # indented under its cluster
    table, details = out.split("\n\n", 1)
    assert table.splitlines()[1].split()[:3] == ["site", "a", "error"]
    # Under the table, only the app's own line starts at the margin.
    assert not [line for line in details.splitlines() if line and not line.startswith(" ")][1:]


def test_misspelt_field_exits_1(setup: Any, capsys: pytest.CaptureFixture[str]) -> None:
    repo, (a, _b), tmp = setup
    repo.commit({"site/deploy.yaml": manifest(field="replica")})
    config = str(write_config(tmp, url=repo.url, kubeconfig=a.kubeconfig))
    code, out, _ = run(capsys, "plan", "-c", config)
    assert code == 1, out
    assert 'unknown field "spec.replica"' in out


def test_unknown_context_exits_1_and_the_other_cluster_is_planned(
    setup: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, (a, _b), tmp = setup
    config = str(write_config(tmp, url=repo.url, kubeconfig=a.kubeconfig, context_b="nope"))
    code, out, _ = run(capsys, "plan", "-c", config)
    assert code == 1, out
    assert "cluster a: 1 create" in out
    assert "cluster b:" in out and "'nope'" in out


def test_drift_by_kubectl_scale_is_a_diff_and_exits_0(
    setup: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, (a, _b), tmp = setup
    config = str(write_config(tmp, url=repo.url, kubeconfig=a.kubeconfig))
    assert run(capsys, "sync", "-c", config)[0] == 0
    live = a.get("apps/v1", "Deployment", "site", namespace="site")
    live["spec"]["replicas"] = 5
    a.put(live, manager="kubectl-scale")
    code, out, _ = run(capsys, "plan", "-c", config)
    assert code == 0, out
    assert "cluster a: 1 update" in out and "cluster b: 1 unchanged" in out
    assert "# Deployment site/site: spec.replicas: 5 -> 2 (set by kubectl-scale)" in out
    assert run(capsys, "sync", "-c", config)[0] == 0
    assert a.get("apps/v1", "Deployment", "site", namespace="site")["spec"]["replicas"] == 2


def test_conflict_and_immutable_field_exit_1(
    setup: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, (a, _b), tmp = setup
    config = str(write_config(tmp, url=repo.url, kubeconfig=a.kubeconfig))
    assert run(capsys, "sync", "-c", config)[0] == 0
    # Another tool *applies* the replicas field: a real conflict, as in sync.
    a.kubectl(
        "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "site", "namespace": "site"},
                "spec": {"replicas": 4},
            }
        ),
        check=True,
    )  # fmt: skip
    repo.commit({"site/deploy.yaml": manifest().replace("replicas: 2", "replicas: 3")})
    code, out, _ = run(capsys, "plan", "-c", config)
    assert code == 1, out
    assert "cluster a: plan:" in out and "conflict" in out and "cluster b: 1 update" in out

    repo.commit({"site/deploy.yaml": manifest(selector="web")})
    code, out, _ = run(capsys, "plan", "-c", config)
    assert code == 1, out
    assert "field is immutable" in out and 'syncer.io/replace: "true"' in out
