"""What a steady-state cycle costs, counted on the real servers: one ls-remote per Git
repository (whatever the number of sources and apps on it), one registry request per
image repository, and no cluster write; also for a drift check and a second
``syncer sync`` pass (which reads each cluster once per kind, plus one health read per
app)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import controller
from tests.controller.test_cli_live import CONFIGMAP
from tests.servers import images as test_images

pytestmark = pytest.mark.integration

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: %(name)s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %(name)s}}
  template:
    metadata: {labels: {app: %(name)s}}
    spec:
      containers:
        - {name: main, image: "%(image)s"}
"""


def wait_until(predicate: Any, *, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_poll_cycle_drift_and_sync_cost(
    tmp_path: Path, git_http: Any, registry_server: Any, kube_clusters: Any
) -> None:
    clusters = kube_clusters(2, names=["a", "b"], workload_delay=0.02)
    reg = registry_server.start("anonymous")
    for repository in ("team/one", "team/two"):
        test_images.push_image(reg, repository, tags=["1.0.0"])
    # Two repositories; the first is read by two sources (two apps each on it: 4 apps).
    apps = {
        "a1": ("one", "r1"),
        "a2": ("one", "r1-again"),
        "a3": ("two", "r2"),
        "a4": ("two", "r2"),
    }
    files: dict[str, dict[str, str]] = {"deploy1": {}, "deploy2": {}}
    for name, (image, source) in apps.items():
        manifest = DEPLOYMENT % {"name": name, "image": f"{reg.host}/team/{image}:0.0.0"}
        files["deploy2" if source == "r2" else "deploy1"][f"{name}/deploy.yaml"] = manifest
    repo1 = git_http.create_repo("deploy1", files["deploy1"])
    repo2 = git_http.create_repo("deploy2", files["deploy2"])
    data = {
        "sources": [
            {"name": "r1", "git": {"url": repo1.url, "branch": "main", "interval": "1h"}},
            {"name": "r1-again", "git": {"url": repo1.url, "branch": "main", "interval": "1h"}},
            {"name": "r2", "git": {"url": repo2.url, "branch": "main", "interval": "1h"}},
        ],
        # Drift by listing, whose cost this counts (test_drift_watch: from watches).
        "clusters": [
            {"name": c.name, "kubeconfig": c.kubeconfig, "context": c.name, "driftSource": "poll"}
            for c in clusters
        ],
        "apps": [
            {
                "name": name,
                "source": source,
                "path": name,
                "namespace": name,
                "clusters": ["a", "b"],
                "images": [
                    {
                        "repository": f"{reg.host}/team/{image}",
                        "policy": {"semver": "^1"},
                        "interval": "1h",
                    }
                ],
                "sync": {"wait": "10s", "driftInterval": "1h"},
            }
            for name, (image, source) in apps.items()
        ],
        "state": {"path": "state/syncer.db"},
    }
    path = tmp_path / "syncer.yaml"
    path.write_text(yaml.safe_dump(data))

    session = controller.open_session(str(path))
    ctl = session.controller
    ctl.start()
    try:
        wait_until(
            lambda: (
                all(
                    len(ctl.store.deployments(n)) == 2
                    and all(d.healthy for d in ctl.store.deployments(n))
                    for n in apps
                )
                and ctl.wait_idle(0.1)
            ),
            what="first rollout of every app",
        )
        git_http.reset_counts()
        served = len(reg.served())
        for c in clusters:
            c.request_log.clear()

        # One poll cycle, nothing changed: the poll jobs' work, run here.
        for url in (repo1.url, repo2.url):
            ctl._poll_git(url)
        for repository in ctl._image_jobs():
            ctl._poll_image(repository)
        assert ctl.wait_idle(10)
        assert git_http.count("ls-refs") == 2  # one per repository, not per source
        assert git_http.count("fetch") == 0
        registry_requests = [r for r in reg.served()[served:] if r.path != "/v2/"]
        assert len(registry_requests) == 2, registry_requests  # one per image repository
        assert sum(len(c.request_log) for c in clusters) == 0
        assert ctl.apps_status()[0]["status"] == "Healthy"

        # A drift check of every app: reads only (no write), against the last inventory.
        for name in apps:
            outcome = ctl.reconciler.reconcile(name, reasons=frozenset({"drift"}))
            assert outcome.ok, outcome.message
        assert sum(c.request_log.writes() for c in clusters) == 0
        assert git_http.count("ls-refs") == 2  # a reconcile reuses the last poll
        assert not [e for n in apps for e in ctl.history(n, 50) if e["kind"] == "drift"]

        # ``syncer sync`` (fresh inputs, once the last poll is older than the window in
        # which apps share it): one ls-remote per repository, one registry request per
        # image repository, no write; the pass is one read round per cluster.
        time.sleep(ctl.inputs._fresh_window + 0.1)
        git_http.reset_counts()
        served = len(reg.served())
        for c in clusters:
            c.request_log.clear()
        outcomes = ctl.sync_all()
        assert all(o.ok for o in outcomes), [o.message for o in outcomes]
        assert git_http.count("ls-refs") == 2
        registry_requests = [r for r in reg.served()[served:] if r.path != "/v2/"]
        assert len(registry_requests) == 2, registry_requests
        assert sum(c.request_log.writes() for c in clusters) == 0  # nothing to apply
        for c in clusters:
            # The pass compares with the live objects (drift) from one LIST per kind for
            # all apps, and judges each app's health again: one LIST per app, no more.
            listed = [r.path for r in c.request_log]
            assert listed.count("/apis/apps/v1/deployments") == 1, listed
            assert len(listed) == 1 + len(apps), listed

        # A commit that changes every app on both repositories: the pass reads what the
        # apps own once per kind and cluster (one read round), not once per app; only
        # health checks (and new objects' safety checks) read per app.
        for repo, names in ((repo1, ("a1", "a2")), (repo2, ("a3", "a4"))):
            repo.commit({f"{n}/cm.yaml": CONFIGMAP % n for n in names})
        time.sleep(ctl.inputs._fresh_window + 0.1)
        for c in clusters:
            c.request_log.clear()
        outcomes = ctl.sync_all()
        assert all(o.ok and o.clusters for o in outcomes), [o.message for o in outcomes]
        for c in clusters:
            listed = [r.path for r in c.request_log if "labelSelector" in r.query]
            per_app = [p for p in listed if p.startswith("/apis/apps/v1/namespaces/")]
            assert listed.count("/apis/apps/v1/deployments") == 1, listed
            assert len(per_app) == len(apps), listed  # the health checks, one per app
            assert c.request_log.writes() == 4  # the four new ConfigMaps
    finally:
        ctl.stop(timeout=10)
        session.close()
