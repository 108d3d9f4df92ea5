"""Helpers of the release-control scenarios: a Git repository with apps side by side (a
monorepo), a config for it, the CLI, and the controller with its HTTP server in-process.

Real parts only: the Git smart-HTTP server, the ``docker-registry`` fixtures and clusters
of the ``kube_clusters`` fixture.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from syncer import cli, controller, state
from syncer.config import loader
from tests.e2e.conftest import API_TOKEN, free_port
from tests.servers.syncer_run import serve

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: %(app)s}
data: {GREETING: %(greeting)s}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: %(app)s}
spec:
  replicas: 1
  progressDeadlineSeconds: 2
  selector: {matchLabels: {app: %(app)s}}
  template:
    metadata: {labels: {app: %(app)s}}
    spec:
      containers:
        - {name: main, image: "%(image)s"}
"""


def app_files(app: str, *, greeting: str, image: str = "") -> dict[str, str | None]:
    """``apps/APP/cm.yaml`` (and a Deployment running ``image``, when given)."""
    files: dict[str, str | None] = {
        f"apps/{app}/cm.yaml": CONFIGMAP % {"app": app, "greeting": greeting}
    }
    if image:
        files[f"apps/{app}/deploy.yaml"] = DEPLOYMENT % {"app": app, "image": image}
    return files


def write_config(
    tmp: Path,
    *,
    url: str,
    clusters: list[Any],
    apps: list[str],
    stages: list[dict[str, Any]] | None = None,
    images: dict[str, str] | None = None,
    registry: Any = None,
    git_interval: str = "1m",
    drift_interval: str = "1h",
    port: int = 0,
) -> Path:
    """A config for ``apps`` (each at ``apps/NAME``, namespace NAME) on ``clusters``;
    ``stages`` makes a pipeline of each app; ``images``: app -> repository tracked with
    ``semver: ^1`` on ``registry``."""
    data: dict[str, Any] = {
        "sources": [
            {"name": "mono", "git": {"url": url, "branch": "main", "interval": git_interval}}
        ],
        "clusters": [
            {"name": c.name, "kubeconfig": str(clusters[0].kubeconfig), "context": c.name}
            for c in clusters
        ],
        "apps": [],
        "state": {"path": "state/syncer.db"},
    }
    for app in apps:
        entry: dict[str, Any] = {
            "name": app,
            "source": "mono",
            "path": f"apps/{app}",
            "namespace": app,
            "clusters": [c.name for c in clusters],
            "sync": {"wait": "5s", "driftInterval": drift_interval},
        }
        if images and app in images:
            entry["images"] = [
                {"repository": images[app], "policy": {"semver": "^1"}, "interval": "1h"}
            ]
        data["apps"].append(entry)
    if registry is not None:
        data["registries"] = [
            {
                "host": registry.host,
                "auth": {"usernameFrom": "env:REG_USER", "passwordFrom": "env:REG_PASSWORD"},
            }
        ]
    if stages:
        data["pipelines"] = [{"app": app, "stages": stages} for app in apps]
    if port:
        data["server"] = {
            "listen": f"127.0.0.1:{port}",
            "webhookListen": "127.0.0.1:0",
            "apiToken": "env:SYNCER_API_TOKEN",
        }
    path = tmp / "syncer.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def set_users(config: Path, *, port: int, users: list[dict[str, Any]], **server: Any) -> None:
    """Serve the API of ``config`` on ``port`` to ``users`` (``server.users`` entries; more
    ``server`` settings in ``server``, e.g. ``tokenFile``)."""
    data = yaml.safe_load(config.read_text())
    data["server"] = {
        "listen": f"127.0.0.1:{port}",
        "webhookListen": "127.0.0.1:0",
        "users": users,
        **server,
    }
    config.write_text(yaml.safe_dump(data))


def cli_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = cli_run(capsys, *args, "-o", "json")
    assert code == 0, out + err
    return json.loads(out)


def greeting(cluster: Any, app: str) -> str:
    cm = cluster.get("v1", "ConfigMap", app, namespace=app)
    return str((cm or {}).get("data", {}).get("GREETING", ""))


def open_store(config: Path) -> state.Store:
    loaded = loader.load(str(config))
    return state.open_store(state.state_path(base_dir=loaded.base_dir, path=loaded.state.path))


class Api:
    """The JSON API of a running controller."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1"

    def get(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}  # reads need a token too
        answer = requests.get(f"{self.base}/{path}", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, body: dict[str, Any] | None = None, *, token: bool = True) -> Any:
        headers = {"Authorization": f"Bearer {API_TOKEN}"} if token else {}
        return requests.post(f"{self.base}/{path}", json=body or {}, headers=headers, timeout=10)


@contextlib.contextmanager
def running(config: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[controller.Controller]:
    """The controller and its HTTP server in this process (API token set), stopped on exit."""
    monkeypatch.setenv("SYNCER_API_TOKEN", API_TOKEN)
    with serve(config) as ctl:
        yield ctl


TWO_STAGES = [
    {"name": "dev", "clusters": ["dev"]},
    {"name": "prod", "clusters": ["prod"], "after": "dev"},
]
"""dev, then prod once dev is healthy on the release."""


def web_registry(registry_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A basic-auth registry whose credentials the configs of ``write_config`` read."""
    reg = registry_server.start("basic")
    monkeypatch.setenv("REG_USER", reg.username)
    monkeypatch.setenv("REG_PASSWORD", reg.password)
    return reg


__all__ = ["API_TOKEN", "free_port"]
