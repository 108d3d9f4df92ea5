"""Notifications of a running controller, end to end: `syncer run` (a real process)
promotes a release through dev and an approved prod on two real clusters, then rolls a
failing release back on dev. A signed webhook receives every event in order, a
Slack-shaped receiver only what its rules let through (stage prod, or errors), a
GitHub-shaped API the commit statuses, and the clusters' Deployments carry the Events.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from syncer.notify import providers
from tests.controller.test_cli_live import CONFIGMAP, DEPLOYMENT, QUICK_FAILING_DEPLOYMENT
from tests.servers import lifecycle
from tests.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

KEY = "run-test-hmac-key"
API_TOKEN = "run-test-api-token"


CONFIG = """
sources:
  - {name: deploy, git: {url: "%(url)s", branch: main, interval: 1s}}
clusters:
  - {name: dev, kubeconfig: "%(kubeconfig)s", context: dev}
  - {name: prod, kubeconfig: "%(kubeconfig)s", context: prod}
apps:
  - {name: site, source: deploy, path: site, namespace: site, clusters: [dev, prod],
     sync: {wait: 10s}}
pipelines:
  - app: site
    stages:
      - {name: dev, clusters: [dev]}
      - {name: prod, clusters: [prod], after: dev, approval: true}
server: {listen: "127.0.0.1:%(port)d", apiToken: "file:api-token"}
state: {path: state/syncer.db}
notifications:
  providers:
    - {name: hook, type: webhook, urlFrom: file:hook-url, secretFrom: file:hook-key}
    - {name: chat, type: slack, urlFrom: file:slack-url}
    - {name: gh, type: github, tokenFrom: file:gh-token, address: "%(api)s",
       repository: team/deploy}
    - {name: kube, type: kubernetes}
  rules:
    - {providers: [hook, gh]}
    - {providers: [chat], stages: [prod]}
    - {providers: [chat], severity: error, template: "ALERT $app $cluster: $event"}
    - {providers: [kube], events: [rollout-healthy, rollout-failed, rolled-back]}
"""


def _config(tmp: Path, *, url: str, kubeconfig: str, port: int, servers: dict[str, Any]) -> Path:
    files = {
        "hook-url": f"{servers['hook'].url}/syncer", "hook-key": KEY,
        "slack-url": f"{servers['slack'].url}/services/T/B/secret", "gh-token": "gh-token",
        "api-token": API_TOKEN,
    }  # fmt: skip
    for name, value in files.items():
        (tmp / name).write_text(value)
    path = tmp / "syncer.yaml"
    path.write_text(
        CONFIG % {"url": url, "kubeconfig": kubeconfig, "port": port, "api": servers["api"].url}
    )
    return path


def _events(hook: Any) -> list[tuple[str, str]]:
    return [(r.json()["event"], r.json()["cluster"]) for r in hook.accepted()]


@pytest.mark.timeout(400)
def test_a_promotion_and_a_rollback_tell_every_receiver_what_happened(
    tmp_path: Path, git_http: Any, kube_clusters: Any, receiver: Any
) -> None:
    dev, prod = kube_clusters(2, names=["dev", "prod"], workload_delay=0.2)
    repo = git_http.create_repo(
        "deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/deploy.yaml": DEPLOYMENT % "web:1"}
    )
    servers = {"hook": receiver(), "slack": receiver(), "api": receiver(api=True)}
    port = lifecycle.free_port()
    config = _config(tmp_path, url=repo.url, kubeconfig=dev.kubeconfig, port=port, servers=servers)
    hook = servers["hook"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer", "run", "-c", str(config)],
        env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        # The planner asks for prod's approval as soon as it sees the release (it may
        # be given early; prod still waits for dev to be healthy).
        first = [
            ("release-created", ""), ("awaiting-approval", ""), ("rollout-started", "dev"),
            ("rollout-healthy", "dev"),
        ]  # fmt: skip
        assert eventually(lambda: len(hook.accepted()) >= 4, timeout=90), _events(hook)
        assert _events(hook) == first
        answer = requests.post(
            f"http://127.0.0.1:{port}/api/v1/apps/site/approve", json={"stage": "prod"},
            headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        promoted = [("approved", ""), ("rollout-started", "prod"), ("rollout-healthy", "prod")]
        assert eventually(lambda: len(hook.accepted()) >= 7, timeout=90), _events(hook)
        assert _events(hook) == first + promoted
        dev.fail_image("web:bad")
        repo.commit({"site/deploy.yaml": QUICK_FAILING_DEPLOYMENT % "web:bad"})
        failed = [
            ("release-created", ""), ("awaiting-approval", ""), ("rollout-started", "dev"),
            ("rollout-failed", "dev"), ("rollout-started", "dev"), ("rollout-healthy", "dev"),
            ("rolled-back", "dev"),
        ]  # fmt: skip
        assert eventually(lambda: len(hook.accepted()) >= 14, timeout=120), _events(hook)
        assert _events(hook) == first + promoted + failed, _events(hook)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        finally:
            print(proc.stdout.read() if proc.stdout else "")
    # Every webhook request was signed, once per delivery.
    for r in hook.requests:
        assert providers.verify(
            key=KEY.encode(), timestamp=r.headers["X-Syncer-Timestamp"], body=r.body,
            signature=r.headers["X-Syncer-Signature-256"],
        )  # fmt: skip
    assert len({r.delivery for r in hook.requests}) == len(hook.requests) == 14
    # Slack: the prod stage's events, and errors anywhere (with their own template).
    texts = [r.json()["text"] for r in servers["slack"].accepted()]
    assert len(texts) == 6, texts
    assert "waits for approval into stage prod" in texts[0]
    assert "approved into stage prod by api" in texts[1]
    assert texts[2].startswith("site: rolling out") and texts[2].endswith(" to prod")
    assert texts[3].endswith("is healthy on prod")
    assert "waits for approval into stage prod" in texts[4]  # the second release
    assert texts[5] == "ALERT site dev: rollout-failed"
    # Commit statuses: the first release's commit succeeded on both clusters, the
    # failing one's failed on dev.
    statuses = [
        (r.path.rsplit("/", 1)[1], r.json()["context"], r.json()["state"])
        for r in servers["api"].accepted()
    ]
    good = statuses[0][0]
    (bad,) = {c for c, _, state in statuses if state == "failure"}
    assert good != bad
    assert sorted(s[1:] for s in statuses if s[0] == good) == [
        ("syncer/site/dev", "pending"), ("syncer/site/dev", "pending"),
        ("syncer/site/dev", "success"), ("syncer/site/dev", "success"),
        ("syncer/site/prod", "pending"), ("syncer/site/prod", "success"),
    ]  # fmt: skip
    assert sorted(s[1:] for s in statuses if s[0] == bad) == [
        ("syncer/site/dev", "failure"), ("syncer/site/dev", "pending"),
    ]  # fmt: skip

    # Kubernetes Events on the Deployment, in each cluster.
    def reasons(cluster: Any) -> list[str]:
        found = cluster.list_objects("events.k8s.io/v1", "Event", namespace="site")
        ours = [e for e in found if e.get("reportingController") == "syncer.io/syncer"]
        assert {(e["regarding"]["kind"], e["regarding"]["name"]) for e in ours} == {
            ("Deployment", "site")
        }
        return sorted(e["reason"] for e in ours)

    assert reasons(prod) == ["RolloutHealthy"]
    assert reasons(dev) == ["RolledBack", "RolloutFailed", "RolloutHealthy", "RolloutHealthy"]
