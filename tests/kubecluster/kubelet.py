"""A fake kubelet (and binder) for one real test cluster: pods run without containers.

cluster.py starts one per cluster. It registers a Node, binds every unscheduled pod to
it (the scheduler's one job here), and after ``delay()`` seconds writes the pod status a
kubelet would: Running and Ready, or, for an image the test marked as failing
(``failing(image)``), waiting in ImagePullBackOff (a Job's pod instead fails with exit
code 1, as a crashing migration does). Pods being deleted are removed at once, as a
kubelet does after their containers stop. The real controllers (Deployments, ReplicaSets,
StatefulSets, DaemonSets, Jobs) do the rest, so rollouts, availability and
ProgressDeadlineExceeded come from kube-controller-manager.

It talks to the apiserver directly (not through the fault proxy) with the admin token.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import heapq
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from tests.kubecluster import watching

NODE_CAPACITY = {"cpu": "64", "memory": "256Gi", "pods": "2000", "ephemeral-storage": "1Ti"}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeKubelet:
    def __init__(
        self,
        *,
        url: str,
        token: str,
        ca_file: str,
        node: str,
        delay: Callable[[], float],
        failing: Callable[[str], bool],
    ) -> None:
        self.url = url
        self.node = node
        self._delay = delay
        self._failing = failing
        self._session = requests.Session()
        self._session.trust_env = False  # the machine's CA bundle variables would win over verify
        self._session.verify = ca_file
        self._session.headers["Authorization"] = f"Bearer {token}"
        self._stop = threading.Event()
        self._due: list[tuple[float, str, str]] = []
        self._due_lock = threading.Condition()
        self._started: set[str] = set()  # pod uids whose status was written
        self._threads: list[threading.Thread] = []

    def start(self) -> FakeKubelet:
        self._register_node()
        for target, name in ((self._watch_pods, "watch"), (self._run_due, "status")):
            thread = threading.Thread(
                target=target, name=f"kubelet-{self.node}-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        self._stop.set()
        with self._due_lock:
            self._due_lock.notify_all()
        self._session.close()
        for thread in self._threads:
            thread.join(timeout=5)

    # --- the node ------------------------------------------------------------------------

    def _register_node(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node,
                "labels": {
                    "kubernetes.io/hostname": self.node,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            },
        }
        answer = self._session.post(f"{self.url}/api/v1/nodes", json=node, timeout=30)
        if answer.status_code not in (201, 409):
            answer.raise_for_status()
        # Admission taints a new node not-ready; a kubelet that reports Ready clears that.
        self._patch(f"/api/v1/nodes/{self.node}", {"spec": {"taints": None}})
        conditions = [
            {
                "type": kind,
                "status": "False",
                "reason": f"KubeletHasNo{kind}",
                "lastHeartbeatTime": _now(),
                "lastTransitionTime": _now(),
            }
            for kind in ("MemoryPressure", "DiskPressure", "PIDPressure")
        ]
        conditions.append(
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "fake kubelet is posting ready status",
                "lastHeartbeatTime": _now(),
                "lastTransitionTime": _now(),
            }
        )
        status = {
            "status": {
                "capacity": NODE_CAPACITY,
                "allocatable": NODE_CAPACITY,
                "conditions": conditions,
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": self.node},
                ],
                "nodeInfo": {
                    "kubeletVersion": "v0.0.0-fake",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                    "containerRuntimeVersion": "fake://0",
                    "kernelVersion": "",
                    "osImage": "",
                    "kubeProxyVersion": "",
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                },
            }
        }
        self._patch(f"/api/v1/nodes/{self.node}/status", status)

    # --- pods ----------------------------------------------------------------------------

    def _watch_pods(self) -> None:
        watching.follow(self._session, f"{self.url}/api/v1/pods", self._on_pod, stop=self._stop)

    def _on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        if kind == "DELETED":
            return  # gone: nothing left to run or stop
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        where = f"/api/v1/namespaces/{meta.get('namespace')}/pods/{meta.get('name')}"
        if meta.get("deletionTimestamp"):
            # The containers "stopped": the kubelet's final delete.
            self._call(
                "DELETE",
                where,
                {"gracePeriodSeconds": 0, "preconditions": {"uid": meta.get("uid")}},
            )
            return
        if not spec.get("nodeName"):
            binding = {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")},
                "target": {"apiVersion": "v1", "kind": "Node", "name": self.node},
            }
            self._call("POST", f"{where}/binding", binding)
            return
        if spec.get("nodeName") != self.node or meta.get("uid") in self._started:
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        self._started.add(str(meta.get("uid")))
        with self._due_lock:
            heapq.heappush(self._due, (time.monotonic() + self._delay(), where, json.dumps(pod)))
            self._due_lock.notify()

    def _run_due(self) -> None:
        while not self._stop.is_set():
            with self._due_lock:
                while not self._stop.is_set() and (
                    not self._due or self._due[0][0] > time.monotonic()
                ):
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    self._due_lock.wait(timeout=wait)
                if self._stop.is_set():
                    return
                _, where, raw = heapq.heappop(self._due)
            pod = json.loads(raw)
            with contextlib.suppress(requests.RequestException):
                self._call("PATCH", f"{where}/status", {"status": self._status(pod)}, merge=True)

    def _status(self, pod: dict[str, Any]) -> dict[str, Any]:
        spec = pod.get("spec") or {}
        containers = spec.get("containers") or []
        owners = (pod.get("metadata") or {}).get("ownerReferences") or []
        job = any(o.get("kind") == "Job" for o in owners)
        failing = [c for c in containers if self._failing(str(c.get("image", "")))]
        now = _now()
        ready = not failing and not job

        def state(container: dict[str, Any]) -> dict[str, Any]:
            image = str(container.get("image", ""))
            status: dict[str, Any] = {
                "name": container.get("name"),
                "image": image,
                "imageID": "",
                "ready": ready,
                "restartCount": 0,
                "started": ready,
            }
            if container in failing and not job:
                status["state"] = {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": f'Back-off pulling image "{image}"',
                    }
                }
                return status
            status["imageID"] = "fake://sha256:" + hashlib.sha256(image.encode()).hexdigest()
            status["containerID"] = (
                "fake://" + hashlib.sha256((pod["metadata"]["uid"] + image).encode()).hexdigest()
            )
            if job:
                code = 1 if failing else 0
                status["state"] = {
                    "terminated": {
                        "exitCode": code,
                        "reason": "Error" if code else "Completed",
                        "startedAt": now,
                        "finishedAt": now,
                    }
                }
            else:
                status["state"] = {"running": {"startedAt": now}}
            return status

        if job:
            phase = "Failed" if failing else "Succeeded"
        else:
            phase = "Pending" if failing else "Running"
        conditions = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": str(ready), "lastTransitionTime": now},
            {"type": "Ready", "status": str(ready), "lastTransitionTime": now},
        ]
        return {
            "phase": phase,
            "conditions": conditions,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": now,
            "containerStatuses": [state(c) for c in containers],
        }

    # --- requests ------------------------------------------------------------------------

    def _patch(self, path: str, body: dict[str, Any]) -> None:
        self._call("PATCH", path, body, merge=True)

    def _call(self, method: str, path: str, body: dict[str, Any], *, merge: bool = False) -> None:
        headers = {"Content-Type": "application/merge-patch+json"} if merge else {}
        with contextlib.suppress(requests.RequestException):
            self._session.request(
                method, f"{self.url}{path}", data=json.dumps(body), headers=headers, timeout=30
            )
