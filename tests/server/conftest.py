"""A fake controller behind the real HTTP server, on 127.0.0.1 with a free port; and
real ``syncer run --leader-elect`` replicas on a test cluster (``start_replica``)."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from syncer import errors
from syncer.config import model
from syncer.reconcile import tenantapps
from syncer.server import http
from tests.server import replicas as replicas_

SECRETS = {
    "SYNCER_TEST_GITHUB": "gh-secret",
    "SYNCER_TEST_GITLAB": "gl-token",
    "SYNCER_TEST_GITEA": "gitea-secret",
    "SYNCER_TEST_GENERIC": "generic-secret",
    "SYNCER_TEST_REGISTRY": "registry-token",
    "SYNCER_TEST_API": "api-token",
}


def env(name: str) -> model.SecretRef:
    return model.SecretRef(kind="env", name=name)


ALL_SECRETS = model.Server(
    listen="127.0.0.1:0",
    webhook_listen="127.0.0.1:0",
    api_token=env("SYNCER_TEST_API"),
    webhooks=model.WebhookSecrets(
        github=env("SYNCER_TEST_GITHUB"),
        gitlab=env("SYNCER_TEST_GITLAB"),
        gitea=env("SYNCER_TEST_GITEA"),
        generic=env("SYNCER_TEST_GENERIC"),
        registry=env("SYNCER_TEST_REGISTRY"),
    ),
)


class FakePort:
    """Records every call; knows one Git repository and one image repository."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.is_ready = (True, "leading; state open")
        self.apps = {"web": {"name": "web", "release": "r1", "health": "Healthy"}}
        self.fail_with: Exception | None = None
        self.actors: list[str] = []
        """Who asked for each action (``by``), in order."""

    def _call(self, *call: Any) -> None:
        self.calls.append(call)
        if self.fail_with is not None:
            raise self.fail_with

    def trigger_git(self, url: str, ref: str | None) -> list[str]:
        self._call("trigger_git", url, ref)
        return ["deploy"] if "team/deploy" in url else []

    def trigger_image(self, repository: str, tag: str | None, digest: str | None) -> list[str]:
        self._call("trigger_image", repository, tag, digest)
        return ["web"] if repository.endswith("team/web") else []

    def apps_status(self) -> list[dict[str, Any]]:
        return list(self.apps.values())

    def tenants(self) -> list[dict[str, Any]]:
        status = tenantapps.Status(
            tenant="team-a", source="team-a-deploy", path="syncer-apps", commit="c2",
            loaded_commit="c1", apps=(("web", "team-a-deploy:syncer-apps/web.yaml"),),
            errors=("syncer-apps/web.yaml:3: invalid YAML",), checked_at=2.0, loaded_at=1.0,
        )  # fmt: skip
        return [status.to_dict()]

    def app_status(self, name: str) -> dict[str, Any] | None:
        app = self.apps.get(name)
        return None if app is None else {**app, "pipelineStages": ["dev", "prod"]}

    def history(self, app: str, limit: int) -> list[dict[str, Any]]:
        self._call("history", app, limit)
        return [{"release": f"r{i}"} for i in range(limit, 0, -1)][:limit]

    def releases(self, app: str) -> list[dict[str, Any]]:
        return [{"id": "r1", "clusters": {"dev": "Healthy"}}]

    def plan(self, app: str) -> dict[str, Any]:
        return {"app": app, "commit": "c1", "release": "r1", "images": [], "clusters": [],
                "error": "", "ok": True, "changes": False}  # fmt: skip

    def sync_now(self, app: str, *, by: str) -> dict[str, Any]:
        self.actors.append(by)
        self._call("sync_now", app)
        return {"app": app, "scheduled": True}

    def rollback(
        self, app: str, to: str | None, stage: str | None = None, *, by: str
    ) -> dict[str, Any]:
        self.actors.append(by)
        self._call("rollback", app, to) if stage is None else self._call("rollback", app, to, stage)
        return {"app": app, "to": to or "r0"}

    def suspend(self, app: str, stage: str | None, *, by: str) -> dict[str, Any]:
        self.actors.append(by)
        self._call("suspend", app, stage)
        return {"app": app, "stage": stage or "", "suspended": True}

    def resume(self, app: str, stage: str | None, *, by: str) -> dict[str, Any]:
        self.actors.append(by)
        self._call("resume", app, stage)
        return {"app": app, "stage": stage or "", "resumed": []}

    def approve(self, app: str, stage: str, *, by: str) -> dict[str, Any]:
        self.actors.append(by)
        self._call("approve", app, stage)
        if stage == "nope":
            raise errors.PermanentError(f"app {app} has no promotion waiting for stage {stage}")
        return {"app": app, "stage": stage, "release": "r1", "requestedAt": 1.0e9,
                "approvedAt": 1.5e9, "approvedBy": by}  # fmt: skip

    def reject(self, app: str, stage: str, *, by: str) -> dict[str, Any]:
        self.actors.append(by)
        self._call("reject", app, stage)
        return {"app": app, "stage": stage, "release": "r1", "rejectedBy": by}

    def ready(self) -> tuple[bool, str]:
        return self.is_ready

    def triggers(self) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0].startswith("trigger_")]


@pytest.fixture
def fake_port() -> FakePort:
    return FakePort()


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


@pytest.fixture
def start_server(
    fake_port: FakePort, secrets_env: dict[str, str], tmp_path: Any
) -> Iterator[Callable[..., http.HttpServer]]:
    """Start an HttpServer with the given settings (default: every secret set)."""
    started: list[http.HttpServer] = []

    def start(settings: model.Server = ALL_SECRETS, **kwargs: Any) -> http.HttpServer:
        settings = dataclasses.replace(settings, listen="127.0.0.1:0", webhook_listen="127.0.0.1:0")
        server = http.HttpServer(
            settings=settings, port=fake_port, base_dir=str(tmp_path), **kwargs
        )
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server: Callable[..., http.HttpServer]) -> http.HttpServer:
    return start_server()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.trust_env = False
        yield s


@pytest.fixture
def start_replica(
    kube_clusters: Callable[..., list[Any]], tmp_path: Path
) -> Iterator[replicas_.Replicas]:
    (cluster,) = kube_clusters(1)
    cluster.kubectl("apply", "--server-side", "-f", "-", input=replicas_.NAMESPACE_YAML, check=True)
    replicas = replicas_.Replicas(cluster, tmp_path)
    yield replicas
    for replica in replicas.started:
        if replica.proc.poll() is None:
            replica.proc.send_signal(signal.SIGCONT)  # a test may have stopped it
            replica.proc.kill()
            replica.proc.wait(timeout=10)
