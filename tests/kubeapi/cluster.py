"""One test cluster: state, HTTP server, simulated controllers, and the test controls.

fixtures.py and __main__.py create ``KubeCluster`` objects; a test talks to one over HTTP
(kubectl, the Python client, syncer) and steers it with the controls documented in
README.md (stop/start, faults, failing images, tokens, direct state access).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any, NamedTuple

from tests.kubeapi import (
    auth,
    errors,
    faults,
    kubeconfig,
    objects,
    patch,
    resources,
    server,
    store,
    tls,
    workloads,
)

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class Request(NamedTuple):
    method: str
    path: str
    query: str
    status: int


class RequestLog(list[Request]):
    """Every request a cluster answered, in order (thread-safe appends)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def record(self, method: str, path: str, query: str, status: int, *, dry_run: bool) -> None:
        del dry_run  # visible in the query
        with self._lock:
            self.append(Request(method, path, query, status))

    def writes(self) -> int:
        """POST/PUT/PATCH/DELETE requests that were not dry runs."""
        return sum(
            1 for r in list(self) if r.method in WRITE_METHODS and "dryRun=All" not in r.query
        )

    def count(  # type: ignore[override]  # counts by method and path, not by item
        self, method: str | None = None, path_contains: str | None = None
    ) -> int:
        return sum(
            1
            for r in list(self)
            if (method is None or r.method == method.upper())
            and (path_contains is None or path_contains in r.path)
        )


class KubeCluster:
    """A Kubernetes API test server on 127.0.0.1 with its own port and in-memory state."""

    def __init__(
        self,
        name: str = "kube-0",
        *,
        port: int = 0,
        workload_delay: float = 0.2,
        progress_deadline: float = 2.0,
        bookmark_interval: float = 1.0,
        history: int = 2000,
    ) -> None:
        self.name = name
        self.context = name
        self.port = port
        self.kubeconfig = ""
        self.workload_delay = workload_delay
        self.progress_deadline = progress_deadline
        self.bookmark_interval = bookmark_interval
        self.store = store.Store(history=history)
        self.registry = resources.Registry()
        self.objects = objects.Objects(store=self.store, registry=self.registry)
        self.auth = auth.Authorizer(objects=self.store)
        self.token = self.auth.admin_token
        self.faults = faults.Faults()
        self.request_log = RequestLog()
        self.connections: set[socket.socket] = set()
        self.running = False
        self._failing_images: set[str] = set()
        self._server: server.Server | None = None
        self._thread: threading.Thread | None = None
        self.controller = workloads.Controller(
            objs=self.objects,
            registry=self.registry,
            delay=lambda: self.workload_delay,
            deadline=lambda: self.progress_deadline,
            failing=lambda image: any(s in image for s in list(self._failing_images)),
            active=lambda: self.running,
        )
        self.store.listeners.append(self.controller.on_event)
        self._bootstrap()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _bootstrap(self) -> None:
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.put(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                manager="kube-apiserver",
            )
        self.put(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": f"{self.name}-node"},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            },
            manager="kubelet",
        )
        self.put(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": "default"},
            },
            manager="kube-controller-manager",
        )

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> KubeCluster:
        """Serve (again) on the same port with the same state."""
        if self.running:
            return self
        srv = server.Server(("127.0.0.1", self.port), server.Handler)
        srv.cluster = self
        srv.socket = tls.server_context().wrap_socket(
            srv.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = srv.server_address[1]
        self._server = srv
        self.running = True
        self._thread = threading.Thread(
            target=srv.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"kubeapi-{self.name}",
            daemon=True,
        )
        self._thread.start()
        self.controller.wake()
        return self

    def stop(self) -> None:
        """Refuse connections (open ones, watches included, are cut); state is kept."""
        if not self.running or self._server is None:
            return
        self.running = False
        self._server.shutdown()
        self._server.server_close()
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self.store.changed:
            self.store.changed.notify_all()

    def close(self) -> None:
        self.stop()
        self.controller.close()

    # --- controls ------------------------------------------------------------------------

    def set_fault(
        self,
        kind: str,
        *,
        status: int = 503,
        seconds: float = 0.0,
        count: int | None = None,
        probability: float = 1.0,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> faults.Fault:
        return self.faults.add(
            faults.Fault(
                kind=kind,
                status=status,
                seconds=seconds,
                count=count,
                probability=probability,
                method=method,
                path_contains=path_contains,
            )
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    def fail_image(self, substring: str) -> None:
        self._failing_images.add(substring)

    def clear_failing_images(self) -> None:
        self._failing_images.clear()

    def make_token(
        self,
        *,
        verbs: list[str] | None = None,
        namespaces: list[str] | None = None,
        resources: list[str] | None = None,
        service_account: str | None = None,
        user: str | None = None,
        groups: list[str] | None = None,
    ) -> str:
        """A bearer token: limited by verbs/namespaces/resources, or (service_account=
        "ns/name", or user= with groups=) authorized by the cluster's RBAC objects."""
        return self.auth.make_token(
            verbs=verbs,
            namespaces=namespaces,
            resources=resources,
            service_account=service_account,
            user=user,
            groups=groups,
        )

    def kubeconfig_for(self, token: str, path: str | Path) -> Path:
        return kubeconfig.write(path, [kubeconfig.Entry(self.name, self.url, token)])

    def compact(self) -> None:
        """Drop the watch history: watches from an older resourceVersion get 410 Gone."""
        self.store.compact()

    # --- direct state access -------------------------------------------------------------

    def _type(self, api_version: str, kind: str) -> resources.ResourceType:
        rt = self.registry.by_kind(api_version=api_version, kind=kind)
        if rt is None:
            raise KeyError(f"{kind} {api_version} is not served by cluster {self.name}")
        return rt

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        rt = self._type(api_version, kind)
        obj = self.store.get(rt.key, (namespace or "default") if rt.namespaced else "", name)
        if obj is not None:
            obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        return obj

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        rt = self._type(api_version, kind)
        return self.objects.list_collection(rt, namespace)["items"]

    def put(self, obj: dict[str, Any], *, manager: str = "test-direct") -> dict[str, Any]:
        """Create or replace obj directly (an Update by manager), bypassing HTTP and auth."""
        rt = self._type(obj["apiVersion"], obj["kind"])
        meta = obj.get("metadata") or {}
        ns = (meta.get("namespace") or "default") if rt.namespaced else ""
        with self.store.lock:
            current = self.store.get(rt.key, ns, meta["name"])
            if current is None:
                result = self.objects.create(rt, ns, obj, manager=manager, dry_run=False)
            else:
                body = {
                    **obj,
                    "metadata": {**meta, "resourceVersion": current["metadata"]["resourceVersion"]},
                }
                result = self.objects.replace(
                    rt, ns, meta["name"], body, manager=manager, dry_run=False
                )
            if rt.status and obj.get("status") and result.get("status") != obj["status"]:
                result = self.objects.replace(
                    rt,
                    ns,
                    meta["name"],
                    {**result, "status": obj["status"]},
                    manager=manager,
                    dry_run=False,
                    subresource="status",
                )
            return result

    def scale(
        self,
        rt: resources.ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        manager: str,
        dry_run: bool,
    ) -> dict[str, Any]:
        """The scale subresource: spec.replicas of the parent object."""
        replicas = ((body or {}).get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid(
                kind="Scale",
                group="autoscaling",
                name=name,
                causes=[("FieldValueInvalid", "spec.replicas", "must be a non-negative integer")],
            )
        obj = self.objects.patch(
            rt,
            namespace,
            name,
            {"spec": {"replicas": replicas}},
            content_type=patch.MERGE_PATCH,
            manager=manager,
            force=False,
            dry_run=dry_run,
            subresource="scale",
        )
        return server._scale(obj, rt)

    # --- clients -------------------------------------------------------------------------

    def kubectl(
        self,
        *args: str,
        check: bool = False,
        input: str | None = None,
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster (own discovery cache directory)."""
        from tests import binaries

        binary = binaries.require("kubectl")
        cache = Path(self.kubeconfig or ".").parent / f".kube-cache-{self.name}-{self.port}"
        cmd = [
            binary,
            f"--kubeconfig={self.kubeconfig}",
            f"--context={self.context}",
            f"--cache-dir={cache}",
            *args,
        ]
        full_env = {**os.environ, "HOME": str(cache), **(env or {})}
        return subprocess.run(
            cmd,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            env=full_env,
        )

    def api_client(self) -> Any:
        """A kubernetes.client.ApiClient for this cluster's context."""
        from kubernetes import config

        return config.new_client_from_config(config_file=self.kubeconfig, context=self.context)
