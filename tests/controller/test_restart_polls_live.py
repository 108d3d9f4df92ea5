"""What a restart on existing state costs the registry, counted on the real one: the
start-up pass re-checks every app with one tag listing per image repository (however
many apps share it and run side by side), no HEAD for a tag it already knew and no 401
(the first process kept how the registry authenticates), and still rolls out a tag
pushed while syncer was down, without taking the unchanged repository's tag for news.
Real token-auth registry, Git and cluster."""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import controller
from tests.controller.test_steady_state_live import DEPLOYMENT
from tests.servers import images as test_images

pytestmark = pytest.mark.integration

APPS = {f"{image}-{n}": image for n in range(4) for image in ("one", "two")}
"""Eight apps, four on each image repository, alternating (so that the workers start
apps of both repositories at once)."""


AUTH = {"usernameFrom": "env:REG_USER", "passwordFrom": "env:REG_PASSWORD"}


def wait_until(predicate: Any, *, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def run_until_rechecked(path: Path, *, running: str, tag: str) -> dict[str, int]:
    """``syncer run`` of ``path`` until every app is re-checked and the apps on
    repository ``running`` (team/NAME) run ``tag`` healthy; the releases of each app."""
    session = controller.open_session(str(path))
    ctl = session.controller
    ctl.start()
    try:

        def rolled_out() -> bool:
            for name, image in APPS.items():
                deployed = ctl.store.deployments(name)
                if not deployed or not all(d.healthy for d in deployed):
                    return False
                rel = ctl.store.get_release(name, deployed[0].release_id)
                if image == running and (rel is None or rel.images[0].tag != tag):
                    return False
            return ctl.wait_idle(0.1)

        wait_until(rolled_out, what=f"every app re-checked, team/{running} at {tag}")
        return {name: len(ctl.store.releases(name, limit=50)) for name in APPS}
    finally:
        ctl.stop(timeout=10)
        session.close()


def test_a_restart_lists_each_image_repository_once_and_sees_what_was_pushed_meanwhile(
    tmp_path: Path,
    git_http: Any,
    registry_server: Any,
    kube_clusters: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (cluster,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    reg = registry_server.start("token")
    monkeypatch.setenv("REG_USER", reg.username)
    monkeypatch.setenv("REG_PASSWORD", reg.password)
    for image in ("one", "two"):
        test_images.push_image(reg, f"team/{image}", tags=["1.0.0"])
    files = {
        f"{name}/deploy.yaml": DEPLOYMENT
        % {"name": name, "image": f"{reg.host}/team/{image}:1.0.0"}
        for name, image in APPS.items()
    }
    repo = git_http.create_repo("deploy", files)
    data = {
        "sources": [{"name": "deploy", "git": {"url": repo.url, "branch": "main"}}],
        "registries": [{"host": reg.host, "auth": AUTH}],
        "clusters": [{"name": "a", "kubeconfig": cluster.kubeconfig, "context": "a"}],
        "apps": [
            {
                "name": name, "source": "deploy", "path": name, "namespace": name,
                "clusters": ["a"],
                "images": [{"repository": f"{reg.host}/team/{image}",
                            "policy": {"semver": "^1"}}],
                "sync": {"wait": "20s"},
            }
            for name, image in APPS.items()
        ],
        "settings": {"workers": 8},
        "state": {"path": "state/syncer.db"},
    }  # fmt: skip
    path = tmp_path / "syncer.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    before = run_until_rechecked(path, running="one", tag="1.0.0")

    # While syncer is down, team/one gets a new tag; team/two does not change.
    test_images.push_image(reg, "team/one", tags=["1.1.0"], content=b"1.1.0")
    served = len(reg.served())
    after = run_until_rechecked(path, running="one", tag="1.1.0")

    requests = collections.Counter(
        (r.method, r.path.split("?")[0], r.status) for r in reg.served()[served:]
    )
    refused = sum(n for (_, _, status), n in requests.items() if status == 401)
    # The first process kept how the registry authenticates: the new one is never refused.
    assert refused == 0, requests
    assert (tmp_path / "state" / "syncer-cache" / "registry-challenges.json").is_file()
    assert {(m, p): n for (m, p, status), n in requests.items() if status != 401} == {
        # One listing per repository for the whole pass: eight apps, two requests.
        ("GET", "/v2/team/one/tags/list"): 1,
        ("GET", "/v2/team/two/tags/list"): 1,
        # Only the tag pushed meanwhile is looked up; 1.0.0's digest is in the state.
        ("HEAD", "/v2/team/one/manifests/1.1.0"): 1,
    }, requests
    # Old news is no change: the apps on team/two made no new release.
    assert {name: after[name] - before[name] for name in APPS} == {
        name: 1 if image == "one" else 0 for name, image in APPS.items()
    }
