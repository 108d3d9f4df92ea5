"""Simulated Deployment controller: ReplicaSets per pod template, revisions, rollout status.

workloads.Controller calls ``reconcile`` for every Deployment change; it creates or
re-uses the ReplicaSet of the current template (``deployment.kubernetes.io/revision``),
scales old ones down once the new one is ready, and writes the status and conditions
kube-controller-manager would (Progressing with ReplicaSetUpdated,
NewReplicaSetAvailable or ProgressDeadlineExceeded; Available).
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from tests.kubeapi import patch, resources

if TYPE_CHECKING:
    from tests.kubeapi.workloads import Controller

MANAGER = "kube-controller-manager"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
Target = tuple[str, str, str, str]  # (group, plural, namespace, name)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def template_hash(template: Any) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:10])


def condition(
    ctype: str, status: str, reason: str, message: str, *, prev: list | None = None
) -> dict:
    """A condition whose lastTransitionTime only moves when its status changes."""
    stamp = now()
    old = next((c for c in prev or [] if c.get("type") == ctype), None)
    same = old is not None and old.get("status") == status and old.get("lastTransitionTime")
    transition = old["lastTransitionTime"] if same and old else stamp
    return {
        "type": ctype,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    }


def _replicasets(ctl: Controller, deploy: dict[str, Any]) -> list[dict[str, Any]]:
    rs_rt = ctl._registry.find(group="apps", version="v1", plural="replicasets")
    assert rs_rt is not None
    uid = deploy["metadata"]["uid"]
    listed = ctl._objects.list_collection(rs_rt, deploy["metadata"]["namespace"])["items"]
    return [
        rs
        for rs in listed
        if any(r.get("uid") == uid for r in rs["metadata"].get("ownerReferences") or [])
    ]


def _ensure_replicaset(
    ctl: Controller, deploy: dict[str, Any], replicas: int
) -> tuple[dict[str, Any], int]:
    """The ReplicaSet of the current template (created or re-used) and its revision."""
    rs_rt = ctl._registry.find(group="apps", version="v1", plural="replicasets")
    assert rs_rt is not None
    meta, spec = deploy["metadata"], deploy["spec"]
    template = copy.deepcopy(spec.get("template") or {})
    tmpl_labels = dict((template.get("metadata") or {}).get("labels") or {})
    template.setdefault("metadata", {}).pop("labels", None)
    h = template_hash({"labels": tmpl_labels, "t": template})
    owned = _replicasets(ctl, deploy)
    revisions = [
        int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0))
        for rs in owned
    ]
    current = next(
        (rs for rs in owned if rs["metadata"].get("labels", {}).get("pod-template-hash") == h),
        None,
    )
    newest = max(revisions, default=0)
    current_rev = (
        int(current["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0))
        if current
        else 0
    )
    revision = current_rev if current is not None and current_rev == newest else newest + 1
    labels = {**tmpl_labels, "pod-template-hash": h}
    template["metadata"]["labels"] = labels
    selector = copy.deepcopy(spec.get("selector") or {})
    selector.setdefault("matchLabels", {})["pod-template-hash"] = h
    annotations = {
        "deployment.kubernetes.io/revision": str(revision),
        "deployment.kubernetes.io/desired-replicas": str(spec.get("replicas", 1)),
        "deployment.kubernetes.io/max-replicas": str(spec.get("replicas", 1) + 1),
    }
    body = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{h}",
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},  # scaled next
    }
    if current is None:
        current = ctl._objects.create(
            rs_rt, meta["namespace"], body, manager=MANAGER, dry_run=False
        )
    else:
        merged = copy.deepcopy(current)
        merged["metadata"]["annotations"] = {
            **(current["metadata"].get("annotations") or {}),
            **annotations,
        }
        current = ctl._objects.replace(
            rs_rt,
            meta["namespace"],
            current["metadata"]["name"],
            merged,
            manager=MANAGER,
            dry_run=False,
        )
    if meta.get("annotations", {}).get("deployment.kubernetes.io/revision") != str(revision):
        dep_rt = ctl._registry.find(group="apps", version="v1", plural="deployments")
        assert dep_rt is not None
        ctl._objects.patch(
            dep_rt,
            meta["namespace"],
            meta["name"],
            {"metadata": {"annotations": {"deployment.kubernetes.io/revision": str(revision)}}},
            content_type=patch.MERGE_PATCH,
            manager=MANAGER,
            force=False,
            dry_run=False,
        )
    return current, revision


def _set_rs(ctl: Controller, rs: dict[str, Any], *, replicas: int, ready: int) -> None:
    rs_rt = ctl._registry.find(group="apps", version="v1", plural="replicasets")
    assert rs_rt is not None
    ctl._sync_pods(rs, kind="ReplicaSet", count=replicas)
    before = int(rs["spec"].get("replicas", 0))
    if before != replicas:
        owner = next(iter(rs["metadata"].get("ownerReferences") or []), None)
        deploy = (
            ctl._objects.store.get(
                ("apps", "deployments"), rs["metadata"]["namespace"], owner["name"]
            )
            if owner
            else None
        )
        if deploy is not None:
            way = "up" if replicas > before else "down"
            ctl.event(
                {**deploy, "apiVersion": "apps/v1", "kind": "Deployment"},
                "ScalingReplicaSet",
                f"Scaled {way} replica set {rs['metadata']['name']} from {before} to {replicas}",
            )
        new = copy.deepcopy(rs)
        new["spec"]["replicas"] = replicas
        rs = ctl._objects.replace(
            rs_rt,
            rs["metadata"]["namespace"],
            rs["metadata"]["name"],
            new,
            manager=MANAGER,
            dry_run=False,
        )
    status = {
        "replicas": replicas,
        "fullyLabeledReplicas": replicas,
        "observedGeneration": rs["metadata"].get("generation", 1),
    }
    if ready:
        status.update(readyReplicas=ready, availableReplicas=ready)
    ctl._write_status(rs_rt, rs, status)


def reconcile(
    ctl: Controller,
    rt: resources.ResourceType,
    target: Target,
    deploy: dict[str, Any],
    failing: bool,
) -> None:
    spec, meta = deploy["spec"], deploy["metadata"]
    status = deploy.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    generation = int(meta.get("generation", 1))
    conditions = status.get("conditions") or []
    new_rs, _ = _ensure_replicaset(ctl, deploy, replicas)
    deploy = ctl._objects.get(rt, meta["namespace"], meta["name"])  # the revision may have moved
    olds = [
        rs
        for rs in _replicasets(ctl, deploy)
        if rs["metadata"]["name"] != new_rs["metadata"]["name"]
    ]
    old_ready = sum(int((rs.get("status") or {}).get("readyReplicas", 0)) for rs in olds)
    started = ctl._progress_started(target, generation)
    fresh = status.get("observedGeneration") != generation
    rs_name = new_rs["metadata"]["name"]
    if spec.get("paused"):
        ctl._write_status(rt, deploy, {**status, "observedGeneration": generation})
        return
    if replicas > 0 and (fresh or failing):
        # step 1 (and the steady state of a failing rollout): the new generation is
        # observed, the new ReplicaSet grows as far as maxSurge/maxUnavailable allow while
        # its Pods are not ready, the old ones keep the ready Pods that must stay
        new_count, kept = _rolling_split(
            spec, replicas=replicas, old_ready=old_ready, failing=failing
        )
        _set_rs(ctl, new_rs, replicas=new_count, ready=0)
        remaining = kept
        for rs in sorted(olds, key=_revision, reverse=True):
            keep = min(int((rs.get("status") or {}).get("readyReplicas", 0)), remaining)
            remaining -= keep
            _set_rs(ctl, rs, replicas=keep, ready=keep)
        timed_out = False
        if failing and not fresh:
            deadline = min(ctl._deadline(), float(spec.get("progressDeadlineSeconds", 600)))
            left = started + deadline - time.monotonic()
            if left > 0:
                ctl.schedule(target, left)
                return
            timed_out = True
        progressing = (
            (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
            if timed_out
            else ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        )
        ctl._write_status(
            rt,
            deploy,
            _deploy_status(
                ctl,
                generation,
                total=new_count + kept,
                updated=new_count,
                ready=kept,
                replicas=replicas,
                progressing=progressing,
                conditions=conditions,
                spec=spec,
            ),
        )
        if not timed_out:
            ctl.schedule(target, ctl._delay())
        return
    # good images: everything of the new ReplicaSet becomes ready, old ones scale down
    _set_rs(ctl, new_rs, replicas=replicas, ready=replicas)
    for rs in olds:
        _set_rs(ctl, rs, replicas=0, ready=0)
    _clean_history(ctl, olds, keep=int(spec.get("revisionHistoryLimit", 10)))
    ctl._write_status(
        rt,
        deploy,
        _deploy_status(
            ctl,
            generation,
            total=replicas,
            updated=replicas,
            ready=replicas,
            replicas=replicas,
            progressing=(
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            ),
            conditions=conditions,
            spec=spec,
        ),
    )


def _clean_history(ctl: Controller, olds: list[dict[str, Any]], *, keep: int) -> None:
    """Delete the oldest scaled-down ReplicaSets beyond revisionHistoryLimit."""
    rs_rt = ctl._registry.find(group="apps", version="v1", plural="replicasets")
    assert rs_rt is not None

    def revision(rs: dict[str, Any]) -> int:
        return int(
            rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0)
        )

    for rs in sorted(olds, key=revision)[: max(len(olds) - keep, 0)]:
        meta = rs["metadata"]
        ctl._objects.delete(rs_rt, meta["namespace"], meta["name"], dry_run=False)


def _deploy_status(
    ctl: Controller,
    generation: int,
    *,
    total: int,
    updated: int,
    ready: int,
    replicas: int,
    progressing: tuple[str, str, str],
    conditions: list,
    spec: dict[str, Any],
) -> dict[str, Any]:
    max_unavailable = _max_unavailable(spec, replicas)
    available_ok = ready >= replicas - max_unavailable
    available = (
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            prev=conditions,
        )
        if available_ok
        else condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            prev=conditions,
        )
    )
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "replicas": total,
        "updatedReplicas": updated,
    }
    if ready:
        status.update(readyReplicas=ready, availableReplicas=ready)
    if total - ready > 0:
        status["unavailableReplicas"] = total - ready
    status["conditions"] = [available, condition("Progressing", *progressing, prev=conditions)]
    return status


# --- StatefulSet, DaemonSet ----------------------------------------------------------


def _revision(rs: dict[str, Any]) -> int:
    return int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0))


def _rolling_split(
    spec: dict[str, Any], *, replicas: int, old_ready: int, failing: bool
) -> tuple[int, int]:
    """(new ReplicaSet size, ready old Pods kept) while the new Pods are not ready."""
    if (spec.get("strategy") or {}).get("type") == "Recreate":
        return replicas, 0
    if not failing:
        return replicas, old_ready  # surge all at once; old Pods go when the new are ready
    unavailable = _max_unavailable(spec, replicas)
    surge = _max_surge(spec, replicas)
    if surge == 0 and unavailable == 0:
        surge = 1
    kept = min(old_ready, max(replicas - unavailable, 0))
    return min(replicas, replicas + surge - kept), kept


def _max_surge(spec: dict[str, Any], replicas: int) -> int:
    value = ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return -(-replicas * int(value[:-1]) // 100)  # rounded up
    return int(value)


def _max_unavailable(spec: dict[str, Any], replicas: int) -> int:
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return replicas
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return int(replicas * int(value[:-1]) // 100)
    return int(value)
