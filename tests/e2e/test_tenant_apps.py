"""Apps from the teams (``tenants[].appsFrom``) end to end: ``syncer run`` on a real
cluster, the platform's config and two teams' repositories on a real Git server.

A team pushes a new app file to its own repository and it deploys, with the platform's
file untouched; its attempts (in its own file) to widen its gateway or to deploy into
the other team's namespace are refused with the tenant rule named, while its other
apps and the other team's keep running; a broken YAML push keeps the last good apps and
says why (API, /readyz, metric, log); removing the file prunes the app; ``syncer plan``
shows the teams' apps, and status and history say where each came from.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.controller import test_run_metrics
from tests.server.test_metrics_exposition import parse
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

TOKEN = "tenant-apps-api-token"
WEBHOOK_SECRET = "tenant-apps-webhook-secret"

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: %s}
data: {OWNER: %s}
"""


def app_file(name: str, *, path: str, extra: str = "") -> str:
    """A team's app file: one app whose manifests are at ``path`` of the same repo."""
    return f"apps:\n  - name: {name}\n    source: SOURCE\n    path: {path}\n" + (
        "    clusters: [a]\n    sync: {wait: 5s}\n" + extra
    )


def team_repo(git_http: Any, team: str, files: dict[str, str]) -> Any:
    source = f"{team}-deploy"
    return git_http.create_repo(
        f"{team}.git", {k: v.replace("SOURCE", source) for k, v in files.items()}
    )


def write_platform(tmp: Path, *, urls: dict[str, str], kubeconfig: str) -> Path:
    def tenant(team: str) -> dict[str, Any]:
        return {
            "name": team,
            "sources": [{"repo": urls[team]}],
            "clusters": ["a"],
            "namespaces": [team],
            "defaults": {"namespace": team},
            "gateway": {"maxReplicas": 2, "checkQuota": False},
            "appsFrom": {"source": f"{team}-deploy", "path": "syncer-apps"},
        }

    data = {
        "sources": [
            {"name": name, "git": {"url": url, "branch": "main", "interval": every}}
            for name, url, every in (
                ("platform", urls["platform"], "1s"),
                ("team-a-deploy", urls["team-a"], "1s"),
                # Team B's repository is polled rarely: its webhook says when it moved.
                ("team-b-deploy", urls["team-b"], "1h"),
            )
        ],
        "clusters": [{"name": "a", "kubeconfig": kubeconfig, "context": "a"}],
        "tenants": [tenant("team-a"), tenant("team-b")],
        "apps": [
            {
                "name": "base",
                "source": "platform",
                "path": "base",
                "namespace": "platform",
                "clusters": ["a"],
                "sync": {"wait": "5s"},
            }
        ],
        "server": {
            "listen": "127.0.0.1:0",
            "webhookListen": "127.0.0.1:0",
            "users": [{"name": "ops", "role": "viewer", "token": "env:SYNCER_TEST_TOKEN"}],
            "webhooks": {"generic": "env:SYNCER_TEST_WEBHOOK"},
        },
        "state": {"path": "state/syncer.db"},
    }
    path = tmp / "syncer.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def two_teams(
    git_http: Any, tmp: Path, *, kubeconfig: str, team_a_files: dict[str, str]
) -> tuple[Any, Any, Path]:
    """The platform's repository and file, team A's repository (its app a-web, plus
    ``team_a_files``) and team B's (its app b-api)."""
    platform = git_http.create_repo("platform.git", {"base/cm.yaml": CONFIGMAP % ("base", "ops")})
    team_a = team_repo(
        git_http, "team-a",
        {"syncer-apps/web.yaml": app_file("a-web", path="web"),
         "web/cm.yaml": CONFIGMAP % ("web", "team-a"), **team_a_files},
    )  # fmt: skip
    team_b = team_repo(
        git_http, "team-b",
        {"syncer-apps/api.yaml": app_file("b-api", path="api"),
         "api/cm.yaml": CONFIGMAP % ("api", "team-b")},
    )  # fmt: skip
    urls = {"platform": platform.url, "team-a": team_a.url, "team-b": team_b.url}
    return team_a, team_b, write_platform(tmp, urls=urls, kubeconfig=kubeconfig)


class Api:
    def __init__(self, url: str, *, webhooks: str) -> None:
        self.url = url
        self.webhooks = webhooks

    def pushed(self, repo_url: str) -> None:
        """A Git server's signed push webhook for ``repo_url`` (the generic receiver)."""
        body = json.dumps({"url": repo_url, "ref": "refs/heads/main"}).encode()
        signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        answer = requests.post(
            f"{self.webhooks}/webhooks/generic", data=body, timeout=10,
            headers={"X-Signature-256": f"sha256={signature}", "Content-Type": "application/json"},
        )  # fmt: skip
        assert answer.status_code < 300, answer.text

    def get(self, path: str) -> Any:
        answer = requests.get(
            f"{self.url}/api/v1/{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def tenant(self, name: str) -> dict[str, Any]:
        return next(t for t in self.get("tenants")["tenants"] if t["name"] == name)

    def apps(self) -> dict[str, dict[str, Any]]:
        return {a["name"]: a for a in self.get("apps")["apps"]}

    def metric(self, sample: str, **labels: str) -> float | None:
        text = requests.get(f"{self.url}/metrics", timeout=10).text
        return test_run_metrics._value(parse(text), sample, **labels)


def start(config: Path, log: Path) -> tuple[subprocess.Popen[bytes], Api]:
    """``syncer run`` on ``config``, logging to ``log``, and its API once it serves."""
    log.write_text("")
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer", "--log-level", "info", "run", "-c", str(config),
         "--grace=5"],
        stdout=subprocess.DEVNULL, stderr=log.open("w"),
        env={**os.environ, "SYNCER_TEST_TOKEN": TOKEN, "SYNCER_TEST_WEBHOOK": WEBHOOK_SECRET},
    )  # fmt: skip
    assert eventually(lambda: "HTTP on http://" in log.read_text()), log.read_text()
    found = re.search(r"HTTP on (http://[^\s,]+), webhooks on (http://[^\s,]+)", log.read_text())
    assert found is not None
    return proc, Api(found.group(1), webhooks=found.group(2))


def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=60)
        assert proc.returncode == 0, log.read_text()


def test_teams_add_apps_in_their_own_repositories_within_their_tenants_rules(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"])
    team_a, team_b, config = two_teams(
        git_http, tmp_path, kubeconfig=a.kubeconfig,
        team_a_files={"worker/cm.yaml": CONFIGMAP % ("worker", "team-a")},
    )  # fmt: skip
    platform_file = hashlib.sha256(config.read_bytes()).hexdigest()
    log = tmp_path / "run.log"
    proc, api = start(config, log)

    def cm(name: str, namespace: str) -> Any:
        return a.get("v1", "ConfigMap", name, namespace=namespace)

    try:
        # Each team's apps start with the platform's.
        for name, namespace in (("base", "platform"), ("web", "team-a"), ("api", "team-b")):
            assert eventually(lambda n=name, ns=namespace: cm(n, ns), timeout=120), (
                name, log.read_text(),
            )  # fmt: skip

        # Team A pushes a new app file to its own repository: it deploys, and the
        # platform's file is the same as before.
        added = team_a.commit(
            {"syncer-apps/worker.yaml": app_file("a-worker", path="worker").replace(
                "SOURCE", "team-a-deploy")},
            message="add the worker",
        )  # fmt: skip
        assert eventually(lambda: cm("worker", "team-a"), timeout=120), log.read_text()
        assert hashlib.sha256(config.read_bytes()).hexdigest() == platform_file
        apps = api.apps()
        assert apps["a-worker"]["tenant"] == "team-a"
        assert apps["a-worker"]["origin"] == "team-a-deploy:syncer-apps/worker.yaml"
        assert "origin" not in apps["base"]
        tenant_a = api.tenant("team-a")
        assert tenant_a["ok"] and tenant_a["loadedCommit"] == added
        assert {x["name"] for x in tenant_a["apps"]} == {"a-web", "a-worker"}
        history = api.get("apps/a-worker/history")["history"]
        assert any(
            "tenant apps reloaded: app added (tenant team-a: team-a-deploy:syncer-apps/worker"
            in e["message"]
            for e in history
        ), history

        def refused(extra: str) -> str:
            """Team A's worker file with ``extra`` pushed: the one problem syncer reports."""
            text = app_file("a-worker", path="worker", extra=extra)
            pushed = team_a.commit(
                {"syncer-apps/worker.yaml": text.replace("SOURCE", "team-a-deploy")}
            )
            assert eventually(lambda: api.tenant("team-a")["commit"] == pushed, timeout=60)
            (problem,) = api.tenant("team-a")["errors"]
            return str(problem)

        # Team B adds an app and its Git server's webhook says so: read at once, though
        # its repository is polled only hourly; team A's apps are not touched.
        jobs = app_file("b-jobs", path="jobs").replace("SOURCE", "team-b-deploy")
        team_b.commit(
            {"syncer-apps/jobs.yaml": jobs, "jobs/cm.yaml": CONFIGMAP % ("jobs", "team-b")}
        )
        api.pushed(team_b.url)
        assert eventually(lambda: cm("jobs", "team-b"), timeout=120), log.read_text()
        assert api.tenant("team-b")["ok"]
        assert api.tenant("team-a")["loadedCommit"] == added

        # Widening its gateway, in its own file: refused with the tenant's rule.
        problem = refused("    gateway: {maxReplicas: 50}\n")
        assert problem.startswith("syncer-apps/worker.yaml:7: apps[0].gateway.maxReplicas: ")
        assert "looser than tenant team-a's 2 (tenants[0].gateway.maxReplicas)" in problem
        assert api.tenant("team-a")["loadedCommit"] == added

        # Deploying into team B's namespace: refused, with the rule named.
        problem = refused("    namespace: team-b\n")
        assert problem.startswith("syncer-apps/worker.yaml:7: apps[0].namespace: ")
        assert "tenant team-a allows namespaces team-a" in problem
        assert "(tenants[0].namespaces)" in problem
        assert not cm("worker", "team-b")
        # Its apps keep running as they were, and team B's are untouched.
        assert set(api.apps()) == {"base", "a-web", "a-worker", "b-api", "b-jobs"}
        assert cm("worker", "team-a") and cm("web", "team-a")
        assert api.tenant("team-b")["ok"]

        # A broken YAML push: the last good apps keep running, and everyone is told why.
        broken = team_a.commit({"syncer-apps/worker.yaml": "apps: [\n"}, message="oops")
        assert eventually(lambda: api.tenant("team-a")["commit"] == broken, timeout=60)
        (problem,) = api.tenant("team-a")["errors"]
        assert problem.startswith("syncer-apps/worker.yaml:2: invalid YAML")
        ready = requests.get(f"{api.url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert "tenant team-a apps at" in ready.text and "its last good apps run" in ready.text
        assert api.metric("syncer_tenant_apps_loads_total", tenant="team-a", result="invalid") == 3
        assert api.metric("syncer_tenant_apps_loads_total", tenant="team-b", result="invalid") in (
            None, 0,
        )  # fmt: skip
        assert "syncer-apps/worker.yaml:2: invalid YAML" in log.read_text()
        assert "its last good apps keep running" in log.read_text()
        assert set(api.apps()) == {"base", "a-web", "a-worker", "b-api", "b-jobs"}

        # Restarted while the newest commit is broken: the last good apps still run.
        stop(proc, log)
        proc, api = start(config, log)
        assert eventually(lambda: api.tenant("team-a")["commit"] == broken, timeout=60)
        assert api.tenant("team-a")["loadedCommit"] == added
        assert api.tenant("team-a")["errors"][0].startswith("syncer-apps/worker.yaml:2:")
        assert set(api.apps()) == {"base", "a-web", "a-worker", "b-api", "b-jobs"}

        # The file removed: the app leaves, and its objects are pruned.
        team_a.commit({"syncer-apps/worker.yaml": None}, message="no more worker")
        assert eventually(lambda: not cm("worker", "team-a"), timeout=120), log.read_text()
        assert set(api.apps()) == {"base", "a-web", "b-api", "b-jobs"}
        assert api.tenant("team-a")["ok"]
        assert cm("web", "team-a") and cm("api", "team-b") and cm("base", "platform")
    finally:
        stop(proc, log)

    # `syncer plan` reads the teams' apps as the running syncer does.
    plan = subprocess.run(
        [sys.executable, "-m", "syncer", "plan", "-c", str(config), "-o", "json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    assert {r["app"] for r in yaml.safe_load(plan.stdout)} == {"base", "a-web", "b-api", "b-jobs"}

    # `syncer status` and `syncer history` on the state alone: the teams' apps as they ran.
    status = subprocess.run(
        [sys.executable, "-m", "syncer", "status", "-c", str(config), "-o", "json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    apps = {a["name"]: a for a in yaml.safe_load(status.stdout)}
    assert set(apps) == {"base", "a-web", "b-api", "b-jobs"}
    assert apps["b-jobs"]["origin"] == "team-b-deploy:syncer-apps/jobs.yaml"
    assert apps["a-web"]["healthy"]
    history = subprocess.run(
        [sys.executable, "-m", "syncer", "history", "-c", str(config), "a-worker"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "app a-worker left the config; deleted 1 object(s)" in history.stdout, history.stdout


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: big}
spec:
  replicas: 1
  selector: {matchLabels: {app: big}}
  template:
    metadata: {labels: {app: big}}
    spec:
      containers:
        - name: big
          image: registry.example.com/team-a/big:1
          resources: {requests: {cpu: "2"}, limits: {cpu: "2"}}
"""


def test_a_teams_apps_apply_as_its_account_within_its_quota_and_a_broken_reload_keeps_them(
    tmp_path: Path, git_http: Any, kube_clusters: Any
) -> None:
    """The rest of the tenants' promise, through a team's own repository: its writes
    are made as its account (the API server's audit log says so), a rollout over its
    namespace's quota is refused before any write with the numbers, and a broken edit
    of the platform's file keeps everything running and says why."""
    (a,) = kube_clusters(1, names=["a"])
    started = time.time()
    for team in ("team-a", "team-b"):
        # Namespaces exist beforehand: creating one takes a grant no tenant should have.
        a.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team}})
        a.put(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "deployer-admin", "namespace": team},
                "subjects": [{"kind": "User", "name": f"{team}-deployer",
                              "apiGroup": "rbac.authorization.k8s.io"}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": "admin"},
            }
        )  # fmt: skip
    a.put(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "compute", "namespace": "team-a"},
            "spec": {"hard": {"requests.cpu": "1", "limits.cpu": "1"}},
        }
    )
    assert eventually(
        lambda: ((a.get("v1", "ResourceQuota", "compute", namespace="team-a") or {}).get("status")
                 or {}).get("used")
    )  # fmt: skip
    team_a, _team_b, config = two_teams(
        git_http, tmp_path, kubeconfig=a.kubeconfig,
        team_a_files={"big/deploy.yaml": DEPLOYMENT},
    )  # fmt: skip
    data = yaml.safe_load(config.read_text())
    for tenant in data["tenants"]:
        tenant["impersonate"] = {"user": f"{tenant['name']}-deployer"}
        tenant["gateway"]["checkQuota"] = True
    config.write_text(yaml.safe_dump(data))
    log = tmp_path / "run.log"
    proc, api = start(config, log)

    def cm(name: str, namespace: str) -> Any:
        return a.get("v1", "ConfigMap", name, namespace=namespace)

    try:
        assert eventually(lambda: cm("web", "team-a") and cm("api", "team-b"), timeout=120), (
            log.read_text()
        )
        # Who applied: syncer's own account, acting as each team's.
        writes = [
            e for e in a.audit_events(since=started)
            if (e.get("objectRef") or {}).get("resource") == "configmaps"
            and (e.get("objectRef") or {}).get("name") in ("web", "api")
            and e.get("verb") == "patch" and e.get("stage") == "ResponseComplete"
        ]  # fmt: skip
        acting = {e["objectRef"]["name"]: e["impersonatedUser"]["username"] for e in writes}
        assert acting == {"web": "team-a-deployer", "api": "team-b-deployer"}, writes

        # Team A adds an app whose rollout cannot fit its namespace's quota: refused
        # before any write, with the numbers; its other app and team B's run on.
        big = app_file("a-big", path="big").replace("SOURCE", "team-a-deploy")
        team_a.commit({"syncer-apps/big.yaml": big}, message="add big")
        assert eventually(lambda: "a-big" in api.apps() and api.apps()["a-big"]["errors"],
                          timeout=120), log.read_text()  # fmt: skip
        message = " ".join(e["message"] for e in api.apps()["a-big"]["errors"])
        assert "requests.cpu would be 2 of 1 (used 0, this rollout +2)" in message, message
        assert a.get("apps/v1", "Deployment", "big", namespace="team-a") is None
        assert not [
            e for e in a.audit_events(since=started)
            if (e.get("objectRef") or {}).get("name") == "big"
        ]  # fmt: skip

        # The platform's file broken by an edit: the running config stays, and says why.
        config.write_text(config.read_text() + "tenants: [\n")
        assert eventually(
            lambda: "syncer.yaml:" in requests.get(f"{api.url}/readyz", timeout=10).text,
            timeout=60,
        ), log.read_text()
        assert api.metric("syncer_config_reloads_total", result="invalid") == 1
        assert {"base", "a-web", "a-big", "b-api"} <= set(api.apps())
        assert cm("web", "team-a") and cm("api", "team-b") and cm("base", "platform")
    finally:
        stop(proc, log)
