"""One real Kubernetes test cluster on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager.

fixtures.py and ``python -m tests.kubeapi serve`` create
``RealCluster`` objects from the binaries tests/kubecluster/build.sh built. Each cluster
has its own etcd data directory, ports, TLS serving certificate, bearer tokens (a token
file: RBAC is on), a fake kubelet (kubelet.py) and a fault proxy (proxy.py) in front of
the apiserver, whose URL is the one in the kubeconfig. The test controls: stop/start
(the front door), faults, failing images, scoped tokens, direct reads and writes, and the
request log of what clients sent.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime as dt
import functools
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.kubecluster import faults, kubeconfig, kubelet, proxy, tls, watching
from tests.servers import lifecycle

START_TIMEOUT = 90.0
SERVICE_CIDR = "10.96.0.0/16"
# Controllers a cluster without nodes' kubelets or a cloud cannot run: node lifecycle would
# taint the fake node unreachable (it sends no heartbeats) and evict every pod.
DISABLED_CONTROLLERS = (
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "node-ipam-controller",
)

# Keys reset() leaves alone: the apiserver's own leases and endpoint bookkeeping.
KEEP = ("/registry/masterleases/", "/registry/leases/kube-system/apiserver-")

_live: set[RealCluster] = set()
_live_lock = threading.Lock()


class BuildMissing(RuntimeError):
    """The control plane binaries are not built (tests/setup builds them)."""


def bin_dir() -> Path:
    """Where build.sh put the binaries; BuildMissing when they are not there."""
    from tests.kubecluster import build

    found = build.installed()
    if found is None:
        raise BuildMissing(
            "the real Kubernetes control plane is not built: run tests/setup "
            f"(it runs {build.SCRIPT}, which needs Go and the Go module proxy)"
        )
    return found


@functools.cache
def _service_account_key() -> tuple[bytes, bytes]:
    """(private key PEM, public key PEM) that signs ServiceAccount tokens."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
# Cheap: one Metadata line per write, none for reads, watches or the control plane's
# own bookkeeping (leases, events, the controllers' and nodes' status updates).
omitStages: [RequestReceived]
rules:
  - level: None
    verbs: [get, list, watch]
  - level: None
    resources:
      - {group: coordination.k8s.io}
      - {group: "", resources: [events, nodes, nodes/status, pods/status, pods/binding]}
      - {group: events.k8s.io}
      - {group: authentication.k8s.io}
      - {group: authorization.k8s.io}
  - level: None
    userGroups: [system:nodes]
  - level: None
    users: [system:apiserver, system:kube-controller-manager]
  - level: Metadata
"""
"""What the API server audits: enough to see who applied what as whom."""


class RealCluster:
    """A real control plane with a fault proxy in front; state lives until ``close``."""

    def __init__(
        self,
        name: str = "kube-0",
        *,
        port: int = 0,
        workload_delay: float = 0.2,
        binaries: Path | None = None,
        controller_args: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.controller_args = controller_args
        """Extra flags for kube-controller-manager (a benchmark raises its client limits)."""
        self.context = name
        self.port = port
        self.kubeconfig = ""
        self.workload_delay = workload_delay
        self.token = secrets.token_urlsafe(24)
        self.faults = faults.Faults()
        self.request_log = proxy.RequestLog()
        self._bin = binaries or bin_dir()
        self._dir = Path(tempfile.mkdtemp(prefix=f"kube-{name}-"))
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._failing_images: set[str] = set()
        self._kubelet: kubelet.FakeKubelet | None = None
        self._proxy: proxy.FaultProxy | None = None
        self._api_port = 0
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.headers["Authorization"] = f"Bearer {self.token}"
        self._resources: dict[tuple[str, str], tuple[str, bool]] = {}
        self._etcd_url = ""
        self._baseline: set[str] = set()
        self._tokens = 0
        self.started_in = 0.0

    # --- addresses -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL clients use: the fault proxy."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The apiserver itself, behind no proxy (benchmarks, the fake kubelet)."""
        return f"https://127.0.0.1:{self._api_port}"

    @property
    def running(self) -> bool:
        return self._proxy is not None and self._proxy.running

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> RealCluster:
        """Boot the control plane (first call), or open the front door again."""
        if self._processes:
            assert self._proxy is not None
            self.port = self._proxy.start()
            return self
        began = time.monotonic()
        with _live_lock:
            _live.add(self)
        try:
            self._boot()
        except BaseException:
            self.close()
            raise
        self.started_in = time.monotonic() - began
        return self

    def _boot(self) -> None:
        ca, cert, key = tls._material()
        files = {
            "ca.crt": ca,
            "tls.crt": cert,
            "tls.key": key,
            "sa.key": _service_account_key()[0],
            "sa.pub": _service_account_key()[1],
            "tokens.csv": f'{self.token},admin,admin,"system:masters"\n'.encode(),
            "audit-policy.yaml": AUDIT_POLICY.encode(),
        }
        for name, data in files.items():
            path = self._dir / name
            path.write_bytes(data)
            path.chmod(0o600)
        etcd_port, peer_port, self._api_port = (
            lifecycle.free_port(),
            lifecycle.free_port(),
            lifecycle.free_port(),
        )
        self._etcd_url = f"http://127.0.0.1:{etcd_port}"
        self._spawn(
            "etcd",
            [
                f"--name={self.name}",
                f"--data-dir={self._dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster={self.name}=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",  # test data: durability across power loss is not needed
                "--max-txn-ops=1000000",  # reset() deletes a test's objects in one transaction
                "--log-level=warn",
            ],
        )
        self._wait(lambda: self._get(f"http://127.0.0.1:{etcd_port}/health"), "etcd /health")
        d = self._dir
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # Loopback cannot be an Endpoints address; nothing here routes to it anyway.
                "--endpoint-reconciler-type=none",
                f"--secure-port={self._api_port}",
                f"--tls-cert-file={d / 'tls.crt'}",
                f"--tls-private-key-file={d / 'tls.key'}",
                f"--client-ca-file={d / 'ca.crt'}",
                f"--token-auth-file={d / 'tokens.csv'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={d / 'sa.pub'}",
                f"--service-account-signing-key-file={d / 'sa.key'}",
                "--authorization-mode=RBAC",
                f"--audit-policy-file={d / 'audit-policy.yaml'}",
                f"--audit-log-path={d / 'audit.log'}",
                "--audit-log-maxsize=20",  # MB; one old file kept: a few tests' worth
                "--audit-log-maxbackup=1",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=0",
            ],
        )
        self._session.verify = str(d / "ca.crt")
        self._wait(lambda: self._get(f"{self.api_url}/readyz"), "kube-apiserver /readyz")
        admin = d / "admin.kubeconfig"
        kubeconfig.write(admin, [kubeconfig.Entry(self.name, self.api_url, self.token)])
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={admin}",
                f"--authentication-kubeconfig={admin}",
                f"--authorization-kubeconfig={admin}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                f"--service-account-private-key-file={d / 'sa.key'}",
                f"--root-ca-file={d / 'ca.crt'}",
                "--controllers=*," + ",".join(f"-{c}" for c in DISABLED_CONTROLLERS),
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--v=0",
                *self.controller_args,
            ],
        )
        self._kubelet = kubelet.FakeKubelet(
            url=self.api_url,
            token=self.token,
            ca_file=str(d / "ca.crt"),
            node=f"{self.name}-node",
            delay=lambda: self.workload_delay,
            failing=lambda image: any(s in image for s in list(self._failing_images)),
        ).start()
        # Pods need the namespace's default ServiceAccount, which the controller-manager makes.
        self._wait(
            lambda: self._get(f"{self.api_url}/api/v1/namespaces/default/serviceaccounts/default"),
            "the controller-manager's default ServiceAccount",
        )
        upstream = ssl.create_default_context(cafile=str(d / "ca.crt"))
        self._proxy = proxy.FaultProxy(
            upstream_port=self._api_port,
            server_ssl=tls.server_context(),
            upstream_ssl=upstream,
            faults=self.faults,
            record=self.request_log.record,
            port=self.port,
        )
        self.port = self._proxy.start()
        self._wait(
            lambda: self._get(
                f"{self.api_url}/api/v1/namespaces/default/configmaps/kube-root-ca.crt"
            ),
            "the controller-manager's kube-root-ca.crt",
        )
        self._baseline = set(self._etcd_keys())

    # --- reuse between tests -------------------------------------------------------------

    def _etcd_keys(self) -> list[str]:
        answer = self._session.post(
            f"{self._etcd_url}/v3/kv/range",
            json={"key": _b64("\0"), "range_end": _b64("\0"), "keys_only": True},
            timeout=30,
        )
        answer.raise_for_status()
        return [base64.b64decode(kv["key"]).decode() for kv in answer.json().get("kvs") or []]

    def reset(self, *, name: str, workload_delay: float) -> RealCluster:
        """Back to the state it booted in, for the next test: every object made since boot
        is deleted from etcd in one transaction (the apiserver's watch cache and the
        controllers see them go at once); faults, failing images, the request log and
        the front door are reset too."""
        self.name = self.context = name
        self.workload_delay = workload_delay
        self.clear_faults()
        self.clear_failing_images()
        made = [
            key
            for key in self._etcd_keys()
            if key not in self._baseline and not key.startswith(KEEP)
        ]
        if made:
            answer = self._session.post(
                f"{self._etcd_url}/v3/kv/txn",
                json={"success": [{"request_delete_range": {"key": _b64(key)}} for key in made]},
                timeout=60,
            )
            answer.raise_for_status()
        self._resources.clear()
        self.start()
        self.request_log.clear()
        return self

    def _spawn(self, binary: str, args: list[str]) -> None:
        log = open(self._dir / f"{binary}.log", "wb")  # noqa: SIM115  # the process owns it
        self._processes[binary] = subprocess.Popen(
            [str(self._bin / binary), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self._dir,
            start_new_session=True,
        )
        log.close()

    def _get(self, url: str) -> bool:
        try:
            return self._session.get(url, timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def _wait(self, ready: Any, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for binary, process in self._processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"cluster {self.name}: {binary} exited with {process.returncode} "
                        f"while waiting for {what}:\n{self.log_tail(binary)}"
                    )
            if ready():
                return
            time.sleep(0.05)
        raise TimeoutError(f"cluster {self.name}: {what} not ready after {START_TIMEOUT:.0f}s")

    def audit_events(self, *, since: float = 0.0) -> list[dict[str, Any]]:
        """The API server's audit events (writes of users other than the control plane,
        at Metadata level: who, as whom, what) received at or after ``since`` (a
        ``time.time()``; the log spans every test that used this cluster), oldest first."""
        path = self._dir / "audit.log"
        if not path.exists():
            return []
        events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [
            e
            for e in events
            if dt.datetime.fromisoformat(e["requestReceivedTimestamp"]).timestamp() >= since
        ]

    def log_tail(self, binary: str, lines: int = 30) -> str:
        path = self._dir / f"{binary}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> bool:
        """Every process of the control plane still runs."""
        return bool(self._processes) and all(p.poll() is None for p in self._processes.values())

    def stop(self) -> None:
        """Close the front door: connections are refused and open ones (watches) cut."""
        if self._proxy is not None:
            self._proxy.stop()

    def close(self) -> None:
        """Stop every process (by PID) and remove the cluster's files."""
        if self._proxy is not None:
            self._proxy.close()
        if self._kubelet is not None:
            self._kubelet.close()
        # SIGKILL: the cluster's state is thrown away with its directory, and a graceful
        # apiserver shutdown waits for watches to drain (tens of seconds).
        for process in self._processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        for process in self._processes.values():
            process.wait(timeout=30)
        self._processes.clear()
        self._session.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        with _live_lock:
            _live.discard(self)

    def memory_mib(self) -> float:
        """Resident memory of the cluster's processes (etcd, apiserver, controller-manager)."""
        total = 0
        for process in self._processes.values():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each of the cluster's processes has used so far."""
        tick = os.sysconf("SC_CLK_TCK")
        used = {}
        for binary, process in self._processes.items():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{process.pid}/stat").read_text().rpartition(")")[2].split()
                used[binary] = (int(fields[11]) + int(fields[12])) / tick
        return used

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
        """Pods whose image contains substring never become ready (Job pods fail)."""
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
    ) -> str:
        """A ServiceAccount token: of service_account ("ns/name", authorized by whatever RBAC
        the test created), or of a new account allowed only verbs on resources (all when
        None), in namespaces (cluster-wide when None), through real Roles and bindings."""
        if service_account is not None:
            namespace, _, name = service_account.partition("/")
            return self._token_for(namespace, name)
        self._tokens += 1
        name = f"limited-{self._tokens}"
        self.put(_service_account("kube-system", name))
        role: dict[str, Any] = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"test:{name}"},
            "rules": [
                {
                    "apiGroups": ["*"],
                    "resources": resources or ["*"],
                    "verbs": verbs or ["*"],
                }
            ],
        }
        self.put(role)
        subject = [{"kind": "ServiceAccount", "name": name, "namespace": "kube-system"}]
        ref = {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": f"test:{name}",
        }
        if namespaces is None:
            self.put(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": f"test:{name}"},
                    "subjects": subject,
                    "roleRef": ref,
                }
            )
        for namespace in namespaces or []:
            self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            self.put(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": f"test:{name}", "namespace": namespace},
                    "subjects": subject,
                    "roleRef": ref,
                }
            )
        return self._token_for("kube-system", name)

    def _token_for(self, namespace: str, name: str) -> str:
        if self.get("v1", "ServiceAccount", name, namespace) is None:
            self.put(_service_account(namespace, name))
        answer = self._session.post(
            f"{self.api_url}/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            json={
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 86400},
            },
            timeout=30,
        )
        answer.raise_for_status()
        return str(answer.json()["status"]["token"])

    def kubeconfig_for(self, token: str, path: str | Path) -> Path:
        return kubeconfig.write(path, [kubeconfig.Entry(self.name, self.url, token)])

    # --- direct state access (the apiserver itself, as the admin) --------------------------

    def _resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(collection path prefix, namespaced) of a kind, from discovery."""
        key = (api_version, kind)
        if key not in self._resources:
            base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            answer = self._session.get(f"{self.api_url}{base}", timeout=30)
            if answer.status_code == 200:
                for res in answer.json().get("resources") or []:
                    if "/" not in res["name"]:
                        self._resources[(api_version, res["kind"])] = (
                            f"{base}/{res['name']}",
                            bool(res["namespaced"]),
                        )
        if key not in self._resources:
            raise KeyError(f"{kind} {api_version} is not served by cluster {self.name}")
        return self._resources[key]

    def _path(self, api_version: str, kind: str, namespace: str | None, name: str = "") -> str:
        collection, namespaced = self._resource(api_version, kind)
        if namespaced and namespace != "*":
            prefix, _, plural = collection.rpartition("/")
            collection = f"{prefix}/namespaces/{namespace or 'default'}/{plural}"
        return f"{self.api_url}{collection}" + (f"/{name}" if name else "")

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        answer = self._session.get(self._path(api_version, kind, namespace, name), timeout=30)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        obj: dict[str, Any] = answer.json()
        return obj

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        answer = self._session.get(self._path(api_version, kind, namespace or "*"), timeout=30)
        answer.raise_for_status()
        items: list[dict[str, Any]] = answer.json()["items"]
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def follow(
        self,
        api_version: str,
        kind: str,
        on_object: watching.OnObject,
        *,
        stop: threading.Event,
    ) -> threading.Thread:
        """Call ``on_object(event, obj)`` for every object of ``kind`` in all namespaces
        (``watching.follow``), on a thread of its own until ``stop`` is set: what an
        observer needs without listing everything again and again (which loads the
        apiserver it observes)."""
        session = requests.Session()  # a thread of its own, a session of its own
        session.trust_env = False
        session.headers.update(self._session.headers)
        session.verify = self._session.verify
        url = self._path(api_version, kind, "*")
        thread = threading.Thread(
            target=watching.follow, args=(session, url, on_object), kwargs={"stop": stop},
            name=f"follow-{self.name}-{kind}", daemon=True,
        )  # fmt: skip
        thread.start()
        return thread

    def put(self, obj: dict[str, Any], *, manager: str = "test-direct") -> dict[str, Any]:
        """Create or replace obj (an Update by manager, as kubectl create/replace does)."""
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace")
        url = self._path(obj["apiVersion"], obj["kind"], namespace, meta["name"])
        params = {"fieldManager": manager}
        for _ in range(10):  # a controller may update the object between our read and write
            current = self._session.get(url, timeout=30)
            if current.status_code == 404:
                answer = self._session.post(
                    url.rsplit("/", 1)[0], params=params, json=obj, timeout=30
                )
            else:
                current.raise_for_status()
                version = current.json()["metadata"]["resourceVersion"]
                body = {**obj, "metadata": {**meta, "resourceVersion": version}}
                answer = self._session.put(url, params=params, json=body, timeout=30)
            if answer.status_code != 409:
                break
        _raise_for(answer, obj)
        result: dict[str, Any] = answer.json()
        for _ in range(10):  # the status too may be updated by a controller meanwhile
            if not obj.get("status") or result.get("status") == obj["status"]:
                break
            body = {**result, "status": obj["status"]}
            status = self._session.put(f"{url}/status", params=params, json=body, timeout=30)
            if status.status_code == 404:  # kinds without a status subresource keep it inline
                break
            if status.status_code == 409:
                result = self._session.get(url, timeout=30).json()
                continue
            _raise_for(status, obj)
            result = status.json()
        return result

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        answer = self._session.delete(self._path(api_version, kind, namespace, name), timeout=30)
        if answer.status_code != 404:
            answer.raise_for_status()

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
        return run_kubectl(
            self.kubeconfig, self.context, f"--cache-dir={self._dir / 'kubectl-cache'}", *args,
            check=check, input=input, timeout=timeout, env={"HOME": str(self._dir), **(env or {})},
        )  # fmt: skip

    def api_client(self) -> Any:
        """A kubernetes.client.ApiClient for this cluster's context."""
        from kubernetes import config

        return config.new_client_from_config(config_file=self.kubeconfig, context=self.context)


def run_kubectl(
    kubeconfig: str,
    context: str,
    *args: str,
    check: bool = False,
    input: str | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The real kubectl (tests/setup installs it) on one context of a kubeconfig."""
    from tests import binaries

    return subprocess.run(
        [binaries.require("kubectl"), f"--kubeconfig={kubeconfig}", f"--context={context}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        env={**os.environ, **(env or {})},
    )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _service_account(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace},
    }


def _raise_for(answer: requests.Response, obj: dict[str, Any]) -> None:
    if answer.status_code >= 400:
        meta = obj.get("metadata") or {}
        raise RuntimeError(
            f"{obj.get('kind')} {meta.get('namespace', '')}/{meta.get('name')}: "
            f"HTTP {answer.status_code}: {answer.text[:500]}"
        )


def close_all() -> None:
    """Stop every cluster this process started (atexit: no orphaned control planes)."""
    with _live_lock:
        clusters = list(_live)
    for cluster in clusters:
        with contextlib.suppress(Exception):
            cluster.close()


atexit.register(close_all)
