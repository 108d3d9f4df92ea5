"""Simulated controllers move workload status the way kube-controller-manager does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.kubeapi import cluster
from tests.kubeapi.conftest import Api, deployment

pytestmark = pytest.mark.integration


def wait_for(check: Callable[[], Any], *, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def conditions(obj: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        c["type"]: (c["status"], c.get("reason", ""))
        for c in (obj.get("status") or {}).get("conditions") or []
    }


def workload(kind: str, name: str, image: str) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": image}]},
    }
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}, "template": pod}
    group = "apps/v1"
    if kind == "StatefulSet":
        claim = {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
        spec.update(replicas=2, serviceName=name, volumeClaimTemplates=[claim])
    if kind == "Job":
        group = "batch/v1"
        spec = {"template": {"spec": {**pod["spec"], "restartPolicy": "Never"}}, "backoffLimit": 2}
    return {
        "apiVersion": group,
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def test_deployment_status_progresses_through_observed_then_available(
    kube: cluster.KubeCluster, api: Api
) -> None:
    kube.workload_delay = 0.6  # wide enough to observe the first step under load
    api.call("POST", "/apis/apps/v1/namespaces/default/deployments", deployment("web", replicas=3))
    first = wait_for(lambda: (kube.get("apps/v1", "Deployment", "web") or {}).get("status"))
    # the first step: generation observed, updated replicas exist but are not ready yet
    assert first["observedGeneration"] == 1 and first["updatedReplicas"] == 3
    assert first.get("readyReplicas", 0) == 0
    assert conditions({"status": first})["Progressing"] == ("True", "ReplicaSetUpdated")
    done = wait_for(
        lambda: (
            (s := kube.get("apps/v1", "Deployment", "web")["status"]).get("availableReplicas") == 3  # type: ignore[index]
            and s
        )
    )
    assert done["readyReplicas"] == done["replicas"] == 3
    assert conditions({"status": done}) == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }
    (rs,) = kube.list_objects("apps/v1", "ReplicaSet", "default")
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert rs["metadata"]["labels"]["pod-template-hash"] in rs["metadata"]["name"]
    assert rs["status"]["readyReplicas"] == 3


def test_failing_image_exceeds_the_progress_deadline_while_old_pods_stay_available(
    kube: cluster.KubeCluster, api: Api
) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments"
    api.call("POST", path, deployment("web", replicas=2))
    wait_for(
        lambda: (
            conditions(kube.get("apps/v1", "Deployment", "web") or {}).get("Progressing", ("", ""))[
                1
            ]
            == "NewReplicaSetAvailable"
        )
    )
    kube.fail_image(":broken")
    api.call(
        "PATCH",
        f"{path}/web",
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "web", "image": "nginx:broken"}]}}
            }
        },
        ctype="application/strategic-merge-patch+json",
    )
    stuck = wait_for(
        lambda: (
            (d := kube.get("apps/v1", "Deployment", "web"))
            and conditions(d)["Progressing"][1] == "ProgressDeadlineExceeded"
            and d
        )
    )
    assert conditions(stuck)["Progressing"][0] == "False"
    assert conditions(stuck)["Available"] == (
        "True",
        "MinimumReplicasAvailable",
    )  # old ReplicaSet still serves
    # maxSurge 25% of 2 rounds up to 1, maxUnavailable rounds down to 0: one new Pod
    # that never gets ready next to the two old ones, as kube-controller-manager does it
    assert stuck["status"]["replicas"] == 3 and stuck["status"]["updatedReplicas"] == 1
    assert stuck["status"]["readyReplicas"] == 2 and stuck["status"]["unavailableReplicas"] == 1
    assert len(kube.list_objects("apps/v1", "ReplicaSet", "default")) == 2


def test_statefulset_and_daemonset_become_ready_or_stay_unready(
    kube: cluster.KubeCluster, api: Api
) -> None:
    kube.fail_image("bad")
    for kind, name, image in [
        ("StatefulSet", "db", "pg:16"),
        ("StatefulSet", "db-bad", "bad:1"),
        ("DaemonSet", "agent", "agent:1"),
        ("DaemonSet", "agent-bad", "bad:1"),
    ]:
        plural = kind.lower() + "s"
        assert (
            api.call(
                "POST", f"/apis/apps/v1/namespaces/default/{plural}", workload(kind, name, image)
            ).status_code
            == 201
        )
    db = wait_for(
        lambda: (
            (s := (kube.get("apps/v1", "StatefulSet", "db") or {}).get("status", {})).get(
                "readyReplicas"
            )
            == 2
            and s
        )
    )
    assert db["currentRevision"] == db["updateRevision"] and db["observedGeneration"] == 1
    agent = wait_for(
        lambda: (
            (s := (kube.get("apps/v1", "DaemonSet", "agent") or {}).get("status", {})).get(
                "numberAvailable"
            )
            and s
        )
    )
    assert (
        agent["desiredNumberScheduled"]
        == agent["updatedNumberScheduled"]
        == agent["numberReady"]
        == 1
    )
    time.sleep(0.5)
    bad_db = kube.get("apps/v1", "StatefulSet", "db-bad")["status"]  # type: ignore[index]
    assert bad_db["observedGeneration"] == 1 and bad_db["readyReplicas"] == 0
    bad_agent = kube.get("apps/v1", "DaemonSet", "agent-bad")["status"]  # type: ignore[index]
    assert bad_agent["numberReady"] == 0 and bad_agent["numberUnavailable"] == 1


def test_jobs_complete_or_fail(kube: cluster.KubeCluster, api: Api) -> None:
    kube.fail_image("bad")
    api.call("POST", "/apis/batch/v1/namespaces/default/jobs", workload("Job", "ok", "busybox:1"))
    api.call("POST", "/apis/batch/v1/namespaces/default/jobs", workload("Job", "ko", "bad:1"))
    ok = wait_for(
        lambda: (j := kube.get("batch/v1", "Job", "ok")) and "Complete" in conditions(j) and j
    )
    assert (
        conditions(ok)["Complete"] == ("True", "CompletionsReached")
        and ok["status"]["succeeded"] == 1
    )
    assert ok["status"]["startTime"] and ok["status"]["completionTime"]
    ko = wait_for(
        lambda: (j := kube.get("batch/v1", "Job", "ko")) and "Failed" in conditions(j) and j
    )
    assert (
        conditions(ko)["Failed"] == ("True", "BackoffLimitExceeded") and ko["status"]["failed"] == 3
    )


def test_kubectl_rollout_status_for_statefulset_and_wait_for_job(
    kube: cluster.KubeCluster, api: Api
) -> None:
    api.call(
        "POST",
        "/apis/apps/v1/namespaces/default/statefulsets",
        workload("StatefulSet", "db", "pg:16"),
    )
    api.call(
        "POST", "/apis/batch/v1/namespaces/default/jobs", workload("Job", "migrate", "busybox:1")
    )
    proc = kube.kubectl("rollout", "status", "statefulset/db", "--timeout=20s")
    assert proc.returncode == 0 and "roll out complete: 2 new pods" in proc.stdout, proc.stderr
    proc = kube.kubectl("wait", "--for=condition=Complete", "job/migrate", "--timeout=20s")
    assert proc.returncode == 0, proc.stderr


def test_workloads_own_pods_that_follow_the_template(kube: cluster.KubeCluster, api: Api) -> None:
    kube.fail_image(":broken")
    path = "/apis/apps/v1/namespaces/default/deployments"
    api.call("POST", path, deployment("web", replicas=2))
    api.call(
        "POST",
        "/apis/apps/v1/namespaces/default/statefulsets",
        workload("StatefulSet", "db", "pg:16"),
    )
    api.call("POST", "/apis/batch/v1/namespaces/default/jobs", workload("Job", "once", "busybox:1"))

    def pods() -> dict[str, dict[str, Any]]:
        return {p["metadata"]["name"]: p for p in kube.list_objects("v1", "Pod", "default")}

    def phases(prefix: str) -> list[str]:
        return sorted(
            p.get("status", {}).get("phase", "") for n, p in pods().items() if n.startswith(prefix)
        )

    wait_for(lambda: phases("web-") == ["Running", "Running"])
    wait_for(lambda: {"db-0", "db-1"} <= set(pods()))
    claims = [
        c["metadata"]["name"] for c in kube.list_objects("v1", "PersistentVolumeClaim", "default")
    ]
    assert claims == ["data-db-0", "data-db-1"]
    wait_for(lambda: phases("once-") == ["Succeeded"])
    table = kube.kubectl("get", "pods", "-l", "app=web")
    assert table.stdout.count("1/1") == 2 and table.stdout.count("Running") == 2, table.stderr
    # a failing image: the new ReplicaSet's pods never get ready, the old ones stay
    api.call(
        "PATCH",
        f"{path}/web",
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "web", "image": "nginx:broken"}]}}
            }
        },
        ctype="application/strategic-merge-patch+json",
    )
    wait_for(lambda: phases("web-") == ["Pending", "Running", "Running"])
    assert "ImagePullBackOff" in kube.kubectl("get", "pods", "-l", "app=web").stdout
    reasons = {
        (e["involvedObject"]["kind"], e["reason"])
        for e in kube.list_objects("v1", "Event", "default")
    }
    assert {
        ("Deployment", "ScalingReplicaSet"),
        ("ReplicaSet", "SuccessfulCreate"),
        ("Pod", "Scheduled"),
        ("Pod", "Started"),
        ("Pod", "Failed"),
        ("StatefulSet", "SuccessfulCreate"),
    } <= reasons
    described = kube.kubectl("describe", "deployment", "web").stdout
    assert "ScalingReplicaSet" in described and "Scaled up replica set web-" in described
    # deleting the Deployment removes its ReplicaSets and their Pods
    api.call("DELETE", f"{path}/web")
    assert phases("web-") == []


def _rolled_out(kube: cluster.KubeCluster, name: str) -> bool:
    dep = kube.get("apps/v1", "Deployment", name) or {}
    done = conditions(dep).get("Progressing", ("", ""))[1] == "NewReplicaSetAvailable"
    return done and dep["status"].get("observedGeneration") == dep["metadata"]["generation"]


def test_old_replicasets_beyond_the_revision_history_limit_are_removed(
    kube: cluster.KubeCluster, api: Api
) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments"
    body = deployment("web", replicas=1)
    body["spec"]["revisionHistoryLimit"] = 1
    for tag in ("1", "2", "3"):
        body["spec"]["template"]["spec"]["containers"][0]["image"] = f"nginx:{tag}"
        api.call(
            "PATCH", f"{path}/web", body, ctype="application/apply-patch+yaml", fieldManager="t"
        )
        wait_for(lambda: _rolled_out(kube, "web"))
    revisions = sorted(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        for rs in kube.list_objects("apps/v1", "ReplicaSet", "default")
    )
    assert revisions == ["2", "3"]
