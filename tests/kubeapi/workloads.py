"""Simulated workload controllers: Deployment, StatefulSet, DaemonSet, Job and Pod status.

store.py notifies ``Controller.on_event`` of every write; a change to a workload
schedules a reconcile ``workload_delay`` seconds later on the controller's thread, which
writes status through objects.py (as kube-controller-manager, status subresource) the
way the real controllers do: first the new generation is observed and updated replicas
are created, then (one more delay later) they become ready — unless an image matches
``fail_image``, in which case a Deployment ends with ProgressDeadlineExceeded after
``progress_deadline`` seconds, StatefulSets and DaemonSets stay unready and Jobs fail.
Deployments (deployments.py) own ReplicaSets, which own Pods; StatefulSets, DaemonSets
and Jobs own their Pods, so rollout history, ``rollout undo``, ``kubectl get pods`` and
cascading deletion behave as on a real cluster.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import heapq
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.kubeapi import deployments, errors, objects, resources, store

MANAGER = deployments.MANAGER
_KINDS = {
    ("apps", "deployments"): "Deployment",
    ("apps", "statefulsets"): "StatefulSet",
    ("apps", "daemonsets"): "DaemonSet",
    ("batch", "jobs"): "Job",
    ("", "pods"): "Pod",
}
Target = deployments.Target
template_hash = deployments.template_hash
_now = deployments.now
_condition = deployments.condition


def _images(obj: dict[str, Any]) -> list[str]:
    spec = obj.get("spec") or {}
    pod = spec.get("template", {}).get("spec") if "template" in spec else spec
    pod = pod or {}
    return [
        str(c.get("image", ""))
        for key in ("initContainers", "containers")
        for c in pod.get(key) or []
    ]


class Controller:
    """One thread per cluster moving workload status along, after configurable delays."""

    def __init__(
        self,
        *,
        objs: objects.Objects,
        registry: resources.Registry,
        delay: Callable[[], float],
        deadline: Callable[[], float],
        failing: Callable[[str], bool],
        active: Callable[[], bool],
    ) -> None:
        self._objects = objs
        self._registry = registry
        self._delay = delay
        self._deadline = deadline
        self._failing = failing
        self._active = active
        self._queue: list[tuple[float, int, Target]] = []
        self._seq = 0
        self._cond = threading.Condition()
        self._closed = False
        self._started: dict[Target, tuple[int, float]] = {}  # target -> (generation, monotonic)
        self._stepped: dict[Target, float] = {}  # target -> monotonic time of the last step
        self._thread = threading.Thread(target=self._run, name="kubeapi-workloads", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def on_event(self, event: store.Event) -> None:
        """Store listener (runs under the store lock): only queue work."""
        if event.key not in _KINDS or event.type == "DELETED":
            return
        meta = event.obj["metadata"]
        status = event.obj.get("status") or {}
        if (
            event.key != ("", "pods")
            and status.get("observedGeneration") == meta.get("generation")
            and (event.prev is not None and event.prev.get("spec") == event.obj.get("spec"))
        ):
            return  # our own status write: the follow-up is already scheduled
        self.schedule((*event.key, meta.get("namespace", ""), meta["name"]), self._delay())

    def schedule(self, target: Target, after: float) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._queue, (time.monotonic() + after, self._seq, target))
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                if not self._queue or self._queue[0][0] > now or not self._active():
                    wait = self._queue[0][0] - now if self._queue else 1.0
                    self._cond.wait(timeout=min(max(wait, 0.01), 0.5))
                    continue
                _, _, target = heapq.heappop(self._queue)
            try:
                self._reconcile(target)
            except errors.ApiError:
                self.schedule(target, self._delay())  # e.g. a conflicting write: retry later

    def _reconcile(self, target: Target) -> None:
        group, plural, namespace, name = target
        rt = self._registry.versions_of(group=group, plural=plural)
        if not rt:
            return
        try:
            obj = self._objects.get(rt[0], namespace, name)
        except errors.ApiError:
            self._started.pop(target, None)
            return
        if obj["metadata"].get("deletionTimestamp"):
            return
        # one status step per delay, however many events asked for a reconcile
        since = time.monotonic() - self._stepped.get(target, 0.0)
        if since < self._delay():
            self.schedule(target, self._delay() - since)
            return
        kind = _KINDS[(group, plural)]
        failing = any(self._failing(image) for image in _images(obj))
        before = obj["metadata"]["resourceVersion"]
        if kind == "Deployment":
            deployments.reconcile(self, rt[0], target, obj, failing)
        else:
            getattr(self, f"_{kind.lower()}")(rt[0], target, obj, failing)
        after = self._objects.store.get(rt[0].key, namespace, name)
        if after is not None and after["metadata"]["resourceVersion"] != before:
            self._stepped[target] = time.monotonic()

    # --- helpers -------------------------------------------------------------------------

    def _write_status(
        self, rt: resources.ResourceType, obj: dict[str, Any], status: dict[str, Any]
    ) -> None:
        if obj.get("status") == status:
            return
        new = copy.deepcopy(obj)
        new["status"] = status
        meta = obj["metadata"]
        self._objects.replace(
            rt,
            meta.get("namespace", ""),
            meta["name"],
            new,
            manager=MANAGER,
            dry_run=False,
            subresource="status",
        )

    def _progress_started(self, target: Target, generation: int) -> float:
        seen = self._started.get(target)
        if seen is None or seen[0] != generation:
            seen = (generation, time.monotonic())
            self._started[target] = seen
        return seen[1]

    # --- Deployment ----------------------------------------------------------------------

    def _claims(self, sts: dict[str, Any], pods: list[str]) -> None:
        """PersistentVolumeClaims from volumeClaimTemplates, one per Pod; like the real
        controller, they stay when the StatefulSet scales down or is deleted."""
        pvc_rt = self._registry.find(group="", version="v1", plural="persistentvolumeclaims")
        assert pvc_rt is not None
        ns = sts["metadata"]["namespace"]
        for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            for pod in pods:
                name = f"{(template.get('metadata') or {}).get('name', 'data')}-{pod}"
                if self._objects.exists(pvc_rt, ns, name):
                    continue
                labels = dict(((sts["spec"].get("selector") or {}).get("matchLabels")) or {})
                body = {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": name, "namespace": ns, "labels": labels},
                    "spec": copy.deepcopy(template.get("spec") or {}),
                }
                with contextlib.suppress(errors.ApiError):
                    self._objects.create(pvc_rt, ns, body, manager=MANAGER, dry_run=False)

    def event(
        self, obj: dict[str, Any], reason: str, message: str, *, warning: bool = False
    ) -> None:
        """Record a core/v1 Event about obj, as the controllers and the kubelet do."""
        ev_rt = self._registry.find(group="", version="v1", plural="events")
        meta = obj["metadata"]
        if ev_rt is None or not meta.get("namespace"):
            return
        stamp = _now()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta['name']}.{secrets.token_hex(8)}",
                "namespace": meta["namespace"],
            },
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", "v1"),
                "kind": obj.get("kind", ""),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid", ""),
            },
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": "kubelet" if obj.get("kind") == "Pod" else "controllermanager"},
            "reportingComponent": "kubelet"
            if obj.get("kind") == "Pod"
            else "kube-controller-manager",
        }
        with contextlib.suppress(errors.ApiError):  # e.g. the namespace is terminating
            self._objects.create(ev_rt, meta["namespace"], body, manager=MANAGER, dry_run=False)

    def _node_name(self) -> str:
        nodes = self._objects.store.select(("", "nodes"))
        return str(nodes[0]["metadata"]["name"]) if nodes else "node"

    def _sync_pods(
        self,
        owner: dict[str, Any],
        *,
        kind: str,
        count: int,
        names: list[str] | None = None,
        revision: str | None = None,
    ) -> None:
        """Create or delete the owner's Pods so that it has count of them (their status is
        then moved by ``_pod`` like any Pod's)."""
        pod_rt = self._registry.find(group="", version="v1", plural="pods")
        assert pod_rt is not None
        meta = owner["metadata"]
        ns = meta["namespace"]
        uid = meta["uid"]
        pods = [p for _, p in self._objects.store.dependents(uid) if _is_pod(p)]
        pods.sort(key=lambda p: p["metadata"]["name"])
        wanted = names or []
        stale = [
            p
            for p in pods
            if revision
            and p["metadata"].get("labels", {}).get("controller-revision-hash") != revision
        ]
        keep = [p for p in pods if p not in stale]
        extra = (
            keep[count:] if not names else [p for p in keep if p["metadata"]["name"] not in wanted]
        )
        for pod in stale + extra:
            with contextlib.suppress(errors.ApiError):
                self._objects.delete(pod_rt, ns, pod["metadata"]["name"], dry_run=False)
                self.event(owner, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
        pods = [p for p in keep if p not in extra]
        have = {p["metadata"]["name"] for p in pods}
        missing = [n for n in wanted if n not in have] if names else [None] * (count - len(pods))
        template = (owner.get("spec") or {}).get("template") or {}
        for name in missing:
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name or f"{meta['name']}-{secrets.token_hex(3)[:5]}",
                    "namespace": ns,
                    "labels": {
                        **((template.get("metadata") or {}).get("labels") or {}),
                        **({"controller-revision-hash": revision} if revision else {}),
                    },
                    "ownerReferences": [
                        {
                            "apiVersion": owner["apiVersion"],
                            "kind": kind,
                            "name": meta["name"],
                            "uid": uid,
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": {
                    **copy.deepcopy(template.get("spec") or {}),
                    "nodeName": self._node_name(),
                },
            }
            with contextlib.suppress(errors.ApiError):
                made = self._objects.create(pod_rt, ns, body, manager=MANAGER, dry_run=False)
                self.event(owner, "SuccessfulCreate", f"Created pod: {made['metadata']['name']}")

    def _statefulset(
        self, rt: resources.ResourceType, target: Target, sts: dict[str, Any], failing: bool
    ) -> None:
        spec, meta = sts["spec"], sts["metadata"]
        status = sts.get("status") or {}
        replicas = int(spec.get("replicas", 1))
        generation = int(meta.get("generation", 1))
        revision = f"{meta['name']}-{template_hash(spec.get('template'))}"
        current = status.get("currentRevision") or revision
        names = [f"{meta['name']}-{i}" for i in range(replicas)]
        self._claims(sts, names)
        self._sync_pods(sts, kind="StatefulSet", count=replicas, names=names, revision=revision)
        if status.get("observedGeneration") != generation:
            self._write_status(
                rt,
                sts,
                {
                    "observedGeneration": generation,
                    "replicas": replicas,
                    "readyReplicas": 0 if current != revision else status.get("readyReplicas", 0),
                    "currentReplicas": 0
                    if current != revision
                    else status.get("currentReplicas", 0),
                    "updatedReplicas": 0,
                    "availableReplicas": 0,
                    "currentRevision": current,
                    "updateRevision": revision,
                    "collisionCount": 0,
                },
            )
            self.schedule(target, self._delay())
            return
        if failing:
            return  # never becomes ready; `rollout status` waits until its timeout
        self._write_status(
            rt,
            sts,
            {
                "observedGeneration": generation,
                "replicas": replicas,
                "readyReplicas": replicas,
                "currentReplicas": replicas,
                "updatedReplicas": replicas,
                "availableReplicas": replicas,
                "currentRevision": revision,
                "updateRevision": revision,
                "collisionCount": 0,
            },
        )

    def _daemonset(
        self, rt: resources.ResourceType, target: Target, ds: dict[str, Any], failing: bool
    ) -> None:
        generation = int(ds["metadata"].get("generation", 1))
        status = ds.get("status") or {}
        nodes = 1
        revision = template_hash((ds.get("spec") or {}).get("template"))
        self._sync_pods(ds, kind="DaemonSet", count=nodes, revision=revision)
        if status.get("observedGeneration") != generation:
            self._write_status(
                rt,
                ds,
                {
                    "observedGeneration": generation,
                    "desiredNumberScheduled": nodes,
                    "currentNumberScheduled": nodes,
                    "numberMisscheduled": 0,
                    "numberReady": 0,
                    "updatedNumberScheduled": 0,
                    "numberAvailable": 0,
                    "numberUnavailable": nodes,
                },
            )
            self.schedule(target, self._delay())
            return
        ready = 0 if failing else nodes
        new = {
            "observedGeneration": generation,
            "desiredNumberScheduled": nodes,
            "currentNumberScheduled": nodes,
            "numberMisscheduled": 0,
            "numberReady": ready,
            "updatedNumberScheduled": nodes,
        }
        if ready:
            new["numberAvailable"] = ready
        else:
            new["numberUnavailable"] = nodes
        self._write_status(rt, ds, new)

    # --- Job, Pod ------------------------------------------------------------------------

    def _job(
        self, rt: resources.ResourceType, target: Target, job: dict[str, Any], failing: bool
    ) -> None:
        spec = job["spec"]
        status = job.get("status") or {}
        if spec.get("suspend"):
            return
        if any(
            c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            for c in status.get("conditions") or []
        ):
            return
        if not status.get("startTime"):
            self._sync_pods(job, kind="Job", count=int(spec.get("parallelism", 1)))
            self._write_status(
                rt,
                job,
                {
                    "startTime": _now(),
                    "active": int(spec.get("parallelism", 1)),
                    "ready": 0,
                    "terminating": 0,
                    "uncountedTerminatedPods": {},
                },
            )
            self.schedule(target, self._delay())
            return
        stamp = _now()
        if failing:
            conditions = [
                _condition(
                    "FailureTarget",
                    "True",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ),
                _condition(
                    "Failed",
                    "True",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ),
            ]
            new = {
                **status,
                "failed": int(spec.get("backoffLimit", 6)) + 1,
                "conditions": conditions,
            }
        else:
            conditions = [
                _condition(
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ),
                _condition(
                    "Complete",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ),
            ]
            new = {
                **status,
                "succeeded": int(spec.get("completions", 1)),
                "completionTime": stamp,
                "conditions": conditions,
            }
        new.pop("active", None)
        new["ready"] = 0
        self._finish_pods(job, phase="Failed" if failing else "Succeeded")
        self._write_status(rt, job, new)

    def _finish_pods(self, job: dict[str, Any], *, phase: str) -> None:
        pod_rt = self._registry.find(group="", version="v1", plural="pods")
        assert pod_rt is not None
        for _, pod in self._objects.store.dependents(job["metadata"]["uid"]):
            if not _is_pod(pod):
                continue
            state = {
                "terminated": {
                    "exitCode": 1 if phase == "Failed" else 0,
                    "reason": "Error" if phase == "Failed" else "Completed",
                }
            }
            containers = (pod.get("spec") or {}).get("containers") or []
            self._write_status(
                pod_rt,
                pod,
                {
                    "phase": phase,
                    "startTime": (pod.get("status") or {}).get("startTime") or _now(),
                    "containerStatuses": [
                        {
                            "name": c.get("name"),
                            "image": c.get("image"),
                            "ready": False,
                            "restartCount": 0,
                            "started": False,
                            "state": state,
                        }
                        for c in containers
                    ],
                },
            )

    def _pod(
        self, rt: resources.ResourceType, target: Target, pod: dict[str, Any], failing: bool
    ) -> None:
        containers = (pod.get("spec") or {}).get("containers") or []
        if (pod.get("status") or {}).get("startTime"):
            return  # already started (or finished, for a Job's pods)
        name, node = (
            pod["metadata"]["name"],
            (pod.get("spec") or {}).get("nodeName") or self._node_name(),
        )
        self.event(
            pod,
            "Scheduled",
            f"Successfully assigned {pod['metadata']['namespace']}/{name} to {node}",
        )
        for c in containers:
            if failing:
                self.event(
                    pod,
                    "Failed",
                    f'Failed to pull image "{c.get("image")}": not found',
                    warning=True,
                )
                self.event(
                    pod, "BackOff", f'Back-off pulling image "{c.get("image")}"', warning=True
                )
            else:
                self.event(
                    pod, "Pulled", f'Container image "{c.get("image")}" already present on machine'
                )
                self.event(pod, "Started", f"Started container {c.get('name')}")
        ready = "False" if failing else "True"
        states = [
            {
                "name": c.get("name"),
                "image": c.get("image"),
                "ready": not failing,
                "restartCount": 0,
                "started": not failing,
                "state": {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": f'Back-off pulling image "{c.get("image")}"',
                    }
                }
                if failing
                else {"running": {"startedAt": _now()}},
            }
            for c in containers
        ]
        self._write_status(
            rt,
            pod,
            {
                "phase": "Pending" if failing else "Running",
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": _now()},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": _now()},
                    {"type": "ContainersReady", "status": ready, "lastTransitionTime": _now()},
                    {"type": "Ready", "status": ready, "lastTransitionTime": _now()},
                ],
                "hostIP": "10.0.0.1",
                "podIP": _pod_ip(pod["metadata"]["name"]),
                "startTime": _now(),
                "containerStatuses": states,
            },
        )


def _pod_ip(name: str) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    return f"10.244.{digest[0]}.{max(digest[1], 2)}"


def _is_pod(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == "Pod"
