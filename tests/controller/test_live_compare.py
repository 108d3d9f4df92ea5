"""``syncer sync``, the API's sync and controller start compare with the live cluster
(drift, deleted objects, a cluster rebuilt empty) and judge health again; clusters that
could not be reached show in status. Real Git, clusters of the API test server, kubectl."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import cli, controller
from tests.controller.test_cli_live import CONFIGMAP, DEPLOYMENT, write_config

pytestmark = pytest.mark.integration


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out + err


def setup(
    tmp: Path, git_http: Any, cluster: Any, *, deployment: str = DEPLOYMENT, **sync: Any
) -> tuple[str, Any]:
    repo = git_http.create_repo(
        "deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/deploy.yaml": deployment % "web:1"}
    )
    path = write_config(tmp, url=repo.url, kubeconfig=cluster.kubeconfig, clusters=[cluster.name])
    data = yaml.safe_load(path.read_text())
    data["apps"][0]["sync"].update(sync)
    path.write_text(yaml.safe_dump(data))
    return str(path), repo


def replicas(cluster: Any) -> int:
    return int(cluster.get("apps/v1", "Deployment", "site", namespace="site")["spec"]["replicas"])


def status(capsys: pytest.CaptureFixture[str], config: str) -> dict[str, Any]:
    code, out = run(capsys, "status", "-c", config, "-o", "json")
    assert code == 0, out
    (entry,) = json.loads(out)
    return dict(entry)


def wait_until(predicate: Any, *, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sync_heals_drift_and_deleted_objects(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    config, _repo = setup(tmp_path, git_http, a)
    assert run(capsys, "sync", "-c", config)[0] == 0

    a.kubectl("-n", "site", "scale", "deploy", "site", "--replicas=5", check=True)
    assert replicas(a) == 5
    code, out = run(capsys, "sync", "-c", config)
    assert code == 0, out
    assert "drift re-applied on a" in out
    assert replicas(a) == 1

    a.kubectl("-n", "site", "delete", "configmap", "site", check=True)
    code, out = run(capsys, "sync", "-c", config)
    assert code == 0, out
    assert a.get("v1", "ConfigMap", "site", namespace="site")["data"] == {"GREETING": "one"}
    drift = [e for e in json.loads(run(capsys, "history", "-c", config, "site", "-o", "json")[1])
             if e["kind"] == "drift"]  # fmt: skip
    assert len(drift) == 2 and all("(healed)" in e["message"] for e in drift), drift


def test_sync_reports_drift_when_self_heal_is_off(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    config, _repo = setup(tmp_path, git_http, a, selfHeal=False)
    assert run(capsys, "sync", "-c", config)[0] == 0
    a.kubectl("-n", "site", "scale", "deploy", "site", "--replicas=5", check=True)
    code, out = run(capsys, "sync", "-c", config)
    assert code == 1, out
    assert "drift (self-heal off)" in out and "spec.replicas" in out
    assert replicas(a) == 5


def test_startup_and_api_sync_recreate_what_a_rebuilt_cluster_lost(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    config, _repo = setup(tmp_path, git_http, a, driftInterval="1h")

    def lose_everything() -> None:
        a.kubectl("-n", "site", "delete", "deploy,configmap", "--all", check=True)
        assert a.get("v1", "ConfigMap", "site", namespace="site") is None

    def back() -> bool:
        return a.get("v1", "ConfigMap", "site", namespace="site") is not None and (
            a.get("apps/v1", "Deployment", "site", namespace="site") is not None
        )

    session = controller.open_session(config)
    session.controller.start()
    try:
        wait_until(back, what="first rollout")
        assert session.controller.wait_idle(10)
    finally:
        session.controller.stop(timeout=10)
        session.store.close()

    lose_everything()
    # A restarted controller compares with the cluster, not only with its state file.
    session = controller.open_session(config)
    ctl = session.controller
    ctl.start()
    try:
        wait_until(back, what="objects recreated at start-up")
        assert ctl.wait_idle(10)
        lose_everything()
        assert ctl.sync_now("site")["scheduled"]
        wait_until(back, what="objects recreated by POST /sync")
        assert ctl.wait_idle(10)
        wait_until(lambda: ctl.apps_status()[0]["status"] == "Healthy", what="healthy")
    finally:
        ctl.stop(timeout=10)
        session.store.close()


def test_health_is_judged_again_after_the_rollout(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # The rollout takes ~1s, its wait 0.3s: unhealthy at first, healthy a moment later.
    (a,) = kube_clusters(1, names=["a"], workload_delay=1.0)
    # Its pods take 1s to turn ready; a rollout without progress for 4s has failed.
    deployment = DEPLOYMENT.replace("progressDeadlineSeconds: 30", "progressDeadlineSeconds: 4")
    config, _repo = setup(tmp_path, git_http, a, deployment=deployment, wait="300ms")
    code, out = run(capsys, "sync", "-c", config)
    assert code == 1 and "unhealthy" in out, out
    assert status(capsys, config)["status"] == "Failing"

    def available() -> bool:
        dep = a.get("apps/v1", "Deployment", "site", namespace="site")
        return int((dep.get("status") or {}).get("availableReplicas", 0)) == 1

    wait_until(available, what="the Deployment to become available")
    code, out = run(capsys, "sync", "-c", config)
    assert code == 0, out
    found = status(capsys, config)
    assert found["status"] == "Healthy" and found["healthy"] and not found["errors"], found
    history = json.loads(run(capsys, "history", "-c", config, "site", "-o", "json")[1])
    assert any("healthy on a later check" in e["message"] for e in history), history

    # Later its pods fail (a restart onto an image that no longer starts): no longer
    # healthy in status, reported once in history, and nothing is rolled back.
    a.fail_image("web:1")
    a.kubectl("-n", "site", "rollout", "restart", "deploy/site", check=True)
    wait_until(lambda: not available() or _deadline(a), what="the restart to fail")
    time.sleep(1.5)  # past the progress deadline
    for _ in range(2):
        code, out = run(capsys, "sync", "-c", config)
        assert code == 1 and "not healthy" in out, out
    found = status(capsys, config)
    assert found["status"] == "Failing" and not found["healthy"], found
    assert found["clusters"][0]["healthy"] is False
    assert "not healthy any more" in found["clusters"][0]["error"]
    history = json.loads(run(capsys, "history", "-c", config, "site", "-o", "json")[1])
    later = [e for e in history if "not healthy any more" in e["message"]]
    assert len(later) == 1, history
    assert not [e for e in history if e["kind"] == "rollback"]

    # Healthy again (image fixed on the cluster side): status follows.
    a.clear_failing_images()
    a.kubectl("-n", "site", "rollout", "restart", "deploy/site", check=True)
    wait_until(lambda: _healthy_now(a), what="healthy again")
    code, out = run(capsys, "sync", "-c", config)
    assert code == 0, out
    assert status(capsys, config)["status"] == "Healthy"


def _deadline(cluster: Any) -> bool:
    dep = cluster.get("apps/v1", "Deployment", "site", namespace="site")
    conditions = (dep.get("status") or {}).get("conditions") or []
    return any(c.get("reason") == "ProgressDeadlineExceeded" for c in conditions)


def _healthy_now(cluster: Any) -> bool:
    dep = cluster.get("apps/v1", "Deployment", "site", namespace="site")
    st = dep.get("status") or {}
    return (
        st.get("observedGeneration") == dep["metadata"]["generation"]
        and st.get("updatedReplicas") == 1
        and st.get("availableReplicas") == 1
        and st.get("replicas") == 1
        and not _deadline(cluster)
    )


def test_unreachable_cluster_shows_in_status_and_history_once(
    tmp_path: Path, git_http: Any, kube_clusters: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = kube_clusters(2, names=["a", "b"], workload_delay=0.02)
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "one"})
    path = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a", "b"])
    data = yaml.safe_load(path.read_text())
    data["clusters"][1]["context"] = "kube-9"  # no such context in the kubeconfig
    path.write_text(yaml.safe_dump(data))
    config = str(path)
    for _ in range(2):
        code, out = run(capsys, "sync", "-c", config)
        assert code == 1, out
    found = status(capsys, config)
    assert found["status"] == "Degraded" and not found["healthy"], found
    by_cluster = {c["cluster"]: c for c in found["clusters"]}
    assert by_cluster["a"]["healthy"] is True
    assert by_cluster["b"]["healthy"] is False and "kube-9" in by_cluster["b"]["error"]
    code, out = run(capsys, "status", "-c", config)
    assert "Degraded" in out and "kube-9" in out, out
    history = json.loads(run(capsys, "history", "-c", config, "site", "-o", "json")[1])
    failed = [e for e in history if e.get("cluster") == "b"]
    assert len(failed) == 1 and "kube-9" in failed[0]["message"], history
    (b_error,) = [e for e in found["errors"] if e["cluster"] == "b"]
    assert b_error["count"] == 2  # two passes, each counted once

    # No cluster reachable at all (the kubeconfig is gone): recorded too.
    data["clusters"][0]["kubeconfig"] = str(tmp_path / "gone")
    path.write_text(yaml.safe_dump(data))
    assert run(capsys, "sync", "-c", config)[0] == 1
    found = status(capsys, config)
    assert found["status"] == "Degraded", found
    assert "gone" in {c["cluster"]: c for c in found["clusters"]}["a"]["error"]

    # Both fixed: the errors clear once each cluster has the release.
    data["clusters"][0]["kubeconfig"] = a.kubeconfig
    data["clusters"][1]["context"] = "b"
    path.write_text(yaml.safe_dump(data))
    code, out = run(capsys, "sync", "-c", config)
    assert code == 0, out
    found = status(capsys, config)
    assert found["status"] == "Healthy" and not found["errors"], found
    assert site_of(b) == {"GREETING": "one"}


def site_of(cluster: Any) -> Any:
    return (cluster.get("v1", "ConfigMap", "site", namespace="site") or {}).get("data")


def test_running_controller_shows_a_cluster_it_cannot_reach(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    repo = git_http.create_repo("deploy", {"site/cm.yaml": CONFIGMAP % "one"})
    path = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a", "b"])
    data = yaml.safe_load(path.read_text())
    data["clusters"][1]["context"] = "kube-9"
    path.write_text(yaml.safe_dump(data))
    session = controller.open_session(str(path))
    ctl = session.controller
    ctl.start()
    try:

        def tried(times: int) -> bool:
            errs = [e for e in ctl.store.errors("site") if e.cluster == "b"]
            return bool(errs) and errs[0].count >= times

        wait_until(lambda: tried(1), what="the unreachable cluster tried")
        for attempt in (2, 3):  # asked again through the API: still the same error
            ctl.sync_now("site")
            wait_until(lambda attempt=attempt: tried(attempt), what=f"attempt {attempt}")
        found = ctl.apps_status()[0]
        assert found["status"] == "Degraded", found
        b = {c["cluster"]: c for c in found["clusters"]}["b"]
        assert b["healthy"] is False and "kube-9" in b["error"], b
        failed = [e for e in ctl.history("site", 100) if e["cluster"] == "b"]
        assert len(failed) == 1, failed
    finally:
        ctl.stop(timeout=10)
        session.store.close()


def test_drift_job_marks_a_slow_release_healthy(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    # The drift job keeps checking an app whose rollout's wait ran out (it used to stop).
    (a,) = kube_clusters(1, names=["a"], workload_delay=1.0)
    config, _repo = setup(tmp_path, git_http, a, wait="300ms", driftInterval="1s")
    session = controller.open_session(config)
    ctl = session.controller
    ctl.start()
    try:
        wait_until(
            lambda: any(e["kind"] == "unhealthy" for e in ctl.history("site", 50)),
            what="the rollout's wait to run out",
        )
        wait_until(
            lambda: ctl.apps_status()[0]["status"] == "Healthy", what="healthy on a later check"
        )
        assert ctl.apps_status()[0]["healthy"]
        assert not [e for e in ctl.history("site", 50) if e["kind"] == "rollback"]
    finally:
        ctl.stop(timeout=10)
        session.store.close()
