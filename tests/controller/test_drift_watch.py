"""``syncer run`` sees drift from watches: a change made with kubectl is noticed (and
healed with selfHeal) within seconds although the drift interval is an hour; a deleted
object likewise; a watch cut off and answered 410 Gone lists again and stays correct;
a token that may not watch falls back to listing and says so. Real Git, a real cluster
of the API test server, kubectl."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import controller, metrics
from tests.controller.test_cli_live import CONFIGMAP, DEPLOYMENT, write_config
from tests.servers import syncer_run
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def config(tmp: Path, git_http: Any, cluster: Any, *, kubeconfig: str = "", **sync: Any) -> Path:
    repo = git_http.create_repo(
        "deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/deploy.yaml": DEPLOYMENT % "web:1"}
    )
    path = write_config(
        tmp, url=repo.url, kubeconfig=kubeconfig or cluster.kubeconfig, clusters=[cluster.name]
    )
    data = yaml.safe_load(path.read_text())
    # An hour: only a watch can make a drift check happen within these tests.
    data["apps"][0]["sync"].update({"driftInterval": "1h", **sync})
    data["server"] = {"listen": "127.0.0.1:0", "webhookListen": "127.0.0.1:0"}
    path.write_text(yaml.safe_dump(data))
    return path


def until(condition: Any, *, timeout: float, what: str) -> None:
    assert eventually(condition, timeout=timeout), f"timed out waiting for {what}"


def replicas(cluster: Any) -> int:
    return int(cluster.get("apps/v1", "Deployment", "site", namespace="site")["spec"]["replicas"])


def drift_entries(ctl: controller.Controller) -> list[str]:
    return [e.message for e in ctl.store.history("site", limit=50) if e.kind == "drift"]


def settled(ctl: controller.Controller) -> None:
    """The first rollout is healthy and the start-up drift check (which starts the
    watches) has run."""
    until(
        lambda: (
            [d.healthy for d in ctl.store.deployments("site")] == [True]
            and ctl.wait_idle(0.1)
            and {w["kind"]: w["state"] for w in ctl.watch_status()}
            == {"ConfigMap": "synced", "Deployment": "synced"}
        ),
        timeout=60,
        what="first rollout and synced watches",
    )


@contextlib.contextmanager
def running(
    tmp: Path, git_http: Any, kube_clusters: Any, **sync: Any
) -> Iterator[tuple[Any, controller.Controller]]:
    """One cluster ``a`` and ``syncer run`` on it, the app deployed and its kinds watched."""
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    with syncer_run.serve(config(tmp, git_http, a, **sync)) as ctl:
        settled(ctl)
        a.request_log.clear()
        yield a, ctl


def lists_of_app(cluster: Any) -> list[Any]:
    """Label-filtered LISTs a drift or health check makes when it reads the server."""
    return [
        r for r in list(cluster.request_log)
        if r.method == "GET" and "watch=" not in r.query and "labelSelector=syncer.io" in r.query
    ]  # fmt: skip


def test_kubectl_edit_is_healed_within_seconds_from_the_watch(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    with running(tmp_path, git_http, kube_clusters, selfHeal=True) as (a, ctl):
        a.kubectl("-n", "site", "scale", "deploy", "site", "--replicas=5", check=True)
        until(lambda: replicas(a) == 1 and drift_entries(ctl), timeout=20,
                   what="the scaled Deployment put back")  # fmt: skip
        assert "(healed)" in drift_entries(ctl)[0], drift_entries(ctl)
        assert "spec.replicas" in drift_entries(ctl)[0]
        ctl.wait_idle(10)
        # The check read the watch cache: no label-filtered LIST went to the server before
        # the heal's write (only its wait for health, after that write, reads the server).
        log = list(a.request_log)
        heal = next(i for i, r in enumerate(log) if r.method == "PATCH" and "dryRun" not in r.query)
        assert [r for r in lists_of_app(a) if log.index(r) < heal] == [], log[:heal]
        synced = metrics.value("syncer_watch_synced", cluster="a", kind="Deployment", namespace="")
        assert synced == 1


def test_deleted_object_is_reported_from_the_watch(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    with running(tmp_path, git_http, kube_clusters, selfHeal=False) as (a, ctl):
        a.kubectl("-n", "site", "delete", "configmap", "site", check=True)
        until(lambda: drift_entries(ctl), timeout=20, what="the deletion reported")
        ctl.wait_idle(10)
        (entry,) = drift_entries(ctl)
        assert "ConfigMap site/site" in entry and "self-heal off" in entry, entry
        # Detected and checked from the watch cache: no LIST of the app's objects.
        assert lists_of_app(a) == [], lists_of_app(a)
        assert a.get("v1", "ConfigMap", "site", namespace="site") is None  # reported only


def test_broken_watch_and_expired_version_list_again_and_stay_correct(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    with running(tmp_path, git_http, kube_clusters, selfHeal=True) as (a, ctl):
        a.stop()  # every connection cut, the watches included
        until(
            lambda: any(w["state"] == "reconnecting" for w in ctl.watch_status()),
            timeout=20, what="the watches noticing",
        )  # fmt: skip
        # Changed while nobody watched; and the resumed watch is told its version expired.
        a.delete("v1", "ConfigMap", "site", namespace="site")
        a.set_fault("status", status=410, count=1, method="GET", path_contains="/api/v1/configmaps")
        a.request_log.clear()
        a.start()
        until(
            lambda: (a.get("v1", "ConfigMap", "site", namespace="site") or {}).get("data")
            == {"GREETING": "one"},
            timeout=40, what="the deleted ConfigMap put back after the re-list",
        )  # fmt: skip
        relists = [
            r for r in list(a.request_log)
            if r.path == "/api/v1/configmaps" and "watch=" not in r.query and r.status == 200
        ]  # fmt: skip
        assert relists, list(a.request_log)
        # The heal is recorded in history right after its write.
        until(
            lambda: any("ConfigMap site/site" in e for e in drift_entries(ctl)),
            timeout=20, what="the heal recorded",
        )  # fmt: skip
        until(
            lambda: {w["kind"]: w["state"] for w in ctl.watch_status()}
            == {"ConfigMap": "synced", "Deployment": "synced"},
            timeout=30, what="the watches synced again",
        )  # fmt: skip


def test_token_without_watch_falls_back_to_listing_and_says_so(
    tmp_path: Path, git_http: Any, kube_clusters: Any, caplog: pytest.LogCaptureFixture
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    token = a.make_token(verbs=["get", "list", "create", "patch", "delete"])
    kubeconfig = a.kubeconfig_for(token, tmp_path / "limited.kubeconfig")
    path = config(tmp_path, git_http, a, kubeconfig=str(kubeconfig), selfHeal=True)
    caplog.set_level(logging.WARNING, logger="syncer.apply.informer")
    a.request_log.clear()
    with syncer_run.serve(path) as ctl:
        until(
            lambda: [d.healthy for d in ctl.store.deployments("site")] == [True]
            and ctl.wait_idle(0.1)
            and {w["kind"]: w["state"] for w in ctl.watch_status()}
            == {"ConfigMap": "unavailable", "Deployment": "unavailable"},
            timeout=60, what="first rollout and refused watches",
        )  # fmt: skip
        reasons = {w["reason"] for w in ctl.watch_status()}
        assert all("RBAC forbids list and watch" in r for r in reasons), reasons
        ready, why = ctl.ready()
        assert ready and "drift listed, not watched: a/ConfigMap in site (unavailable)" in why
        # Found out by access review: nothing was tried and refused.
        assert [r for r in a.request_log if r.status == 403] == []
        assert any("drift checks list it" in r.message for r in caplog.records)
        # Drift is still found, by listing: a sync someone asks for checks it at once.
        a.kubectl("-n", "site", "scale", "deploy", "site", "--replicas=4", check=True)
        a.request_log.clear()
        ctl.sync_now("site")
        until(lambda: replicas(a) == 1, timeout=30, what="healed by a listing check")
        assert lists_of_app(a), "the check should have listed the app's objects"
