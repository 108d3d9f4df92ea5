"""The quota check's arithmetic, without a cluster: what a pod asks for once admission
has filled it in, how many pods a rollout runs at its peak, and which quotas count them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from syncer.apply import quota

NS = "team-a"


def workload(
    kind: str, *, replicas: int | None = 2, cpu: str = "500m", **spec: Any
) -> dict[str, Any]:
    pod = {
        "containers": [{"name": "app", "image": "app:1", "resources": {"requests": {"cpu": cpu}}}]
    }
    body: dict[str, Any] = {"template": {"spec": pod}, **spec}
    if replicas is not None:
        body["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "api", "namespace": NS},
        "spec": body,
    }


def live(obj: dict[str, Any], *, pods: int, image: str = "app:0") -> dict[str, Any]:
    current = {**obj, "spec": {**obj["spec"]}, "status": {"replicas": pods}}
    template = {
        "spec": {
            "containers": [{**obj["spec"]["template"]["spec"]["containers"][0], "image": image}]
        }
    }
    current["spec"]["template"] = template
    return current


def rq(hard: dict[str, str], used: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "q"},
        "spec": {"hard": hard, **spec},
        "status": {"hard": hard, "used": used or {}},
    }


def lines(changes: list[Any], quotas: list[Any], ranges: list[Any] | None = None) -> list[str]:
    found = quota.violations(
        changes, namespace=NS, quotas=quotas, limit_ranges=ranges or [], plural_of=lambda o: None
    )
    return [line.split(";")[0] for line in found]


def test_init_containers_count_at_their_peak_and_sidecars_on_top() -> None:
    spec = {
        "initContainers": [
            {"name": "migrate", "resources": {"requests": {"cpu": "2"}}},
            {"name": "proxy", "restartPolicy": "Always", "resources": {"limits": {"cpu": "250m"}}},
        ],
        "containers": [
            {"name": "a", "resources": {"requests": {"cpu": "500m"}}},
            {"name": "b", "resources": {"requests": {"cpu": "500m"}}},
        ],
    }
    requests, limits = quota.pod_resources(spec, [])
    # max(2 (the init step), 1 + 0.25 (containers and the sidecar, whose limit is its request))
    assert requests["cpu"] == Decimal(2) and limits["cpu"] == Decimal("0.25")


def test_limit_range_default_request_and_limit_fill_only_what_is_missing() -> None:
    ranges = [
        {
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "default": {"memory": "1Gi"},
                        "defaultRequest": {"memory": "256Mi"},
                    }
                ]
            }
        }
    ]
    requests, limits = quota.container_resources(
        {"resources": {"limits": {"memory": "512Mi"}}}, ranges
    )
    assert (
        requests["memory"] == limits["memory"] == Decimal(512 * 2**20)
    )  # a limit is also the request
    requests, limits = quota.container_resources({}, ranges)
    assert (requests["memory"], limits["memory"]) == (Decimal(256 * 2**20), Decimal(2**30))


def test_deployment_surge_is_rounded_up_and_recreate_has_none() -> None:
    new = workload("Deployment", replicas=3)
    current = live(new, pods=3)
    # 25% of 3 rounds up to one extra pod while the new template rolls out.
    assert lines([(new, current)], [rq({"requests.cpu": "1500m"}, {"requests.cpu": "1500m"})]) == [
        "namespace team-a quota q: requests.cpu would be 2000m of 1500m "
        "(used 1500m, this rollout +500m)"
    ]
    recreate = workload("Deployment", replicas=3, strategy={"type": "Recreate"})
    assert (
        lines(
            [(recreate, live(recreate, pods=3))],
            [rq({"requests.cpu": "1500m"}, {"requests.cpu": "1500m"})],
        )
        == []
    )
    # The same template with only more replicas is a scale-up: no surge.
    same = live(new, pods=3, image="app:1")
    assert lines([(new, same)], [rq({"requests.cpu": "1500m"}, {"requests.cpu": "1500m"})]) == []


def test_statefulset_and_daemonset_and_job_pod_counts() -> None:
    sts = workload("StatefulSet", replicas=2, cpu="1")
    old = live(sts, pods=2)
    old["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "2"}}
    # Rolling one ordinal at a time never needs more than the larger of the two per pod.
    assert lines([(sts, old)], [rq({"requests.cpu": "4"}, {"requests.cpu": "4"})]) == []
    ds = workload("DaemonSet", replicas=None, updateStrategy={"rollingUpdate": {"maxSurge": 1}})
    current = live(ds, pods=0)
    current["status"] = {"desiredNumberScheduled": 3, "currentNumberScheduled": 3}
    assert lines([(ds, current)], [rq({"pods": "3"}, {"pods": "3"})]) == [
        "namespace team-a quota q: pods would be 4 of 3 (used 3, this rollout +1)"
    ]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "batch", "namespace": NS},
        "spec": {
            "parallelism": 5,
            "completions": 2,
            "template": workload("Deployment")["spec"]["template"],
        },
    }
    assert lines([(job, None)], [rq({"pods": "1"})]) == [
        "namespace team-a quota q: pods would be 2 of 1 (used 0, this rollout +2)"
    ]


def test_scoped_quotas_count_only_the_pods_in_their_scope() -> None:
    new = workload("Deployment", replicas=4)
    best_effort = rq({"pods": "1"}, scopes=["BestEffort"])
    high = rq(
        {"pods": "1"},
        scopeSelector={
            "matchExpressions": [
                {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}
            ]
        },
    )
    assert lines([(new, None)], [best_effort, high]) == []
    new["spec"]["template"]["spec"]["priorityClassName"] = "high"
    assert lines([(new, None)], [high]) == [
        "namespace team-a quota q: pods would be 4 of 1 (used 0, this rollout +4)"
    ]


def test_memory_is_written_in_the_quota_s_units() -> None:
    new = workload("Deployment", replicas=3)
    new["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"memory": "768Mi"}}
    assert lines([(new, None)], [rq({"limits.memory": "2Gi"}, {"limits.memory": "1Gi"})]) == [
        "namespace team-a quota q: limits.memory would be 3328Mi of 2Gi "
        "(used 1024Mi, this rollout +2304Mi)"
    ]
