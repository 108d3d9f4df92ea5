"""The push-to-redeploy example, set up against real servers for end-to-end tests.

``push_env`` gives a token-auth ``docker-registry`` (whose notifications go to syncer's
webhook), a Git smart-HTTP server with Basic auth holding the example's ``deploy/``
tree, and two clusters of the Kubernetes API test server (``staging`` and ``prod``).
``examples/push-to-redeploy/syncer.yaml`` itself is the config: only addresses,
intervals and timeouts are replaced, so the tests run the example users read.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import controller, state
from syncer.config import loader
from tests.binaries import REPO_ROOT
from tests.servers import images
from tests.servers.syncer_run import serve

EXAMPLE = REPO_ROOT / "examples" / "push-to-redeploy"
WEBHOOK_TOKEN = "registry-webhook-token"
API_TOKEN = "api-token"
EXAMPLE_REGISTRY = "127.0.0.1:5000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 20.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# The examples' rollouts fail after 60s without progress; the tests' after 2s.
EXAMPLE_DEADLINE = "progressDeadlineSeconds: 60"
TEST_DEADLINE = "progressDeadlineSeconds: 2"


def example_files(example: Path, *, registry_host: str) -> dict[str, str]:
    """An example's deploy/ files as the tests' Git repository holds them: the test
    registry's address instead of the example's, and a short progress deadline."""
    return {
        path.relative_to(example).as_posix(): path.read_text()
        .replace(EXAMPLE_REGISTRY, registry_host)
        .replace(EXAMPLE_DEADLINE, TEST_DEADLINE)
        for path in sorted((example / "deploy").rglob("*.yaml"))
    }


class PushEnv:
    """Servers, the patched example config, and helpers to push and to look."""

    def __init__(self, *, tmp: Path, git: Any, registry: Any, clusters: list[Any]) -> None:
        self.tmp = tmp
        self.git = git
        self.registry = registry
        self.staging, self.prod = clusters
        self.clusters = clusters
        self.port = 0
        self.webhook_port = 0
        self.repo: Any = None
        self.env = {
            "GIT_USER": git.auth[0],
            "GIT_TOKEN": git.auth[1],
            "REGISTRY_USER": registry.username,
            "REGISTRY_PASSWORD": registry.password,
            "SYNCER_API_TOKEN": API_TOKEN,
            "REGISTRY_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
            "GIT_WEBHOOK_SECRET": "git-webhook-secret",
        }

    # --- Git -------------------------------------------------------------------------
    def example_files(self) -> dict[str, str]:
        return example_files(EXAMPLE, registry_host=self.registry.host)

    def commit(self, files: dict[str, str | None]) -> str:
        sha: str = self.repo.commit(files)
        return sha

    # --- registry --------------------------------------------------------------------
    def push(self, repository: str, *tags: str) -> images.PushedImage:
        return images.push_image(self.registry, repository, tags=list(tags))

    # --- config ----------------------------------------------------------------------
    def write_config(
        self, *, image_interval: str = "1s", git_interval: str = "1s", wait: str = "4s"
    ) -> Path:
        data = yaml.safe_load((EXAMPLE / "syncer.yaml").read_text())
        data["sources"][0]["git"]["url"] = self.repo.url
        data["sources"][0]["git"]["interval"] = git_interval
        data["registries"][0]["host"] = self.registry.host
        for cluster in data["clusters"]:
            cluster["kubeconfig"] = str(self.staging.kubeconfig)
            cluster["context"] = cluster["name"]
        for app in data["apps"]:
            for image in app["images"]:
                image["repository"] = image["repository"].replace(
                    EXAMPLE_REGISTRY, self.registry.host
                )
                image["interval"] = image_interval
            app["sync"]["wait"] = wait
            app["sync"]["driftInterval"] = "1h"
            app["gateway"]["allowedRegistries"] = [self.registry.host]
        data["server"]["listen"] = f"127.0.0.1:{self.port}"
        data["server"]["webhookListen"] = f"127.0.0.1:{self.webhook_port}"
        data["state"]["path"] = str(self.tmp / "state" / "syncer-state.db")
        path = self.tmp / "syncer.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    # --- the controller ---------------------------------------------------------------
    @contextlib.contextmanager
    def running(self, **config: str) -> Iterator[controller.Controller]:
        """The controller and its HTTP server in this process, stopped on exit."""
        with serve(self.write_config(**config)) as ctl:
            yield ctl

    def store(self) -> state.Store:
        config = loader.load(str(self.tmp / "syncer.yaml"))
        return state.open_store(state.state_path(base_dir=config.base_dir, path=config.state.path))

    # --- looking at clusters ------------------------------------------------------------
    def image(self, cluster: Any, app: str) -> str:
        obj = cluster.get("apps/v1", "Deployment", app, namespace=app)
        if obj is None:
            return ""
        return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])

    def ready(self, cluster: Any, app: str) -> bool:
        obj = cluster.get("apps/v1", "Deployment", app, namespace=app)
        if obj is None:
            return False
        status = obj.get("status") or {}
        return bool(
            status.get("observedGeneration") == obj["metadata"]["generation"]
            and status.get("updatedReplicas") == obj["spec"].get("replicas", 1)
            and status.get("availableReplicas") == obj["spec"].get("replicas", 1)
        )

    def runs(self, app: str, ref: str) -> bool:
        """Both clusters run ``ref`` (``repo:tag@digest``) for ``app``, ready."""
        return all(self.image(c, app) == ref and self.ready(c, app) for c in self.clusters)


def notifying_registry(registry_server: Any, *, port: int) -> Any:
    """A token-auth registry that sends push events to syncer's webhook on ``port``."""
    return registry_server.start(
        "token",
        notifications=[
            {
                "url": f"http://127.0.0.1:{port}/webhooks/distribution",
                "headers": {"Authorization": [f"Bearer {WEBHOOK_TOKEN}"]},
            }
        ],
    )


@pytest.fixture
def push_env(
    tmp_path: Path,
    git_http_factory: Any,
    registry_server: Any,
    kube_clusters: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> PushEnv:
    webhook_port = free_port()
    registry = notifying_registry(registry_server, port=webhook_port)
    git = git_http_factory(auth=("deployer", "git-s3cret"))
    clusters = kube_clusters(2, names=["staging", "prod"], workload_delay=0.05)
    env = PushEnv(tmp=tmp_path, git=git, registry=registry, clusters=clusters)
    env.port = free_port()
    env.webhook_port = webhook_port
    env.repo = git.create_repo("team/deploy", env.example_files())
    for name, value in env.env.items():
        monkeypatch.setenv(name, value)
    return env
