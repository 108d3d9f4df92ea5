"""A registry webhook that arrives before its tag is linked (distribution sends the
event from inside the manifest PUT) is followed by a few short re-polls, so the push
still rolls out within seconds, not one poll interval later. Real registry, Git and
cluster; the event is delivered through ``trigger_image`` before the tag moves."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import controller
from tests.controller.test_cli_live import DEPLOYMENT
from tests.servers import images as test_images

pytestmark = pytest.mark.integration


def wait_until(predicate: Any, *, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_webhook_before_the_tag_moves_is_polled_again_soon(
    tmp_path: Path, git_http: Any, registry_server: Any, kube_clusters: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    reg = registry_server.start("anonymous")
    first = test_images.push_image(reg, "team/worker", tags=["latest"])
    repository = f"{reg.host}/team/worker"
    repo = git_http.create_repo("deploy", {"site/deploy.yaml": DEPLOYMENT % f"{repository}:latest"})
    data = {
        "sources": [
            {"name": "deploy", "git": {"url": repo.url, "branch": "main", "interval": "1h"}}
        ],
        "clusters": [{"name": "a", "kubeconfig": a.kubeconfig, "context": "a"}],
        "apps": [
            {
                "name": "site", "source": "deploy", "path": "site", "namespace": "site",
                "clusters": ["a"],
                "images": [{"repository": repository, "policy": {"digest": "latest"},
                            "interval": "1h"}],
                "sync": {"wait": "5s", "driftInterval": "1h"},
            }
        ],
        "state": {"path": "state/syncer.db"},
    }  # fmt: skip
    path = tmp_path / "syncer.yaml"
    path.write_text(yaml.safe_dump(data))

    def image() -> str:
        dep = a.get("apps/v1", "Deployment", "site", namespace="site") or {}
        if not dep:
            return ""
        return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])

    session = controller.open_session(str(path))
    ctl = session.controller
    ctl.start()
    try:
        wait_until(lambda: image().endswith(first.digest), what="first rollout")
        assert ctl.wait_idle(10)
        # The new manifest is in the registry, the event is sent, the tag not moved yet.
        second = test_images.push_image(reg, "team/worker", tags=[])
        assert ctl.trigger_image(repository, "latest", second.digest) == ["site"]
        time.sleep(0.3)
        assert image().endswith(first.digest)
        test_images.tag(reg, "team/worker", second.digest, "latest")
        wait_until(lambda: image().endswith(second.digest), timeout=10, what="re-polled push")
        # Bounded: once seen, no more polls for it.
        served = len(reg.served())
        time.sleep(2.5)
        assert [r.path for r in reg.served()[served:] if "manifests" in r.path] == []
    finally:
        ctl.stop(timeout=10)
        session.close()
