"""Multi-cluster promotion, end to end: ``examples/multi-cluster-promotion/syncer.yaml``
against a token-auth registry, a Git server with Basic auth and four clusters of the
Kubernetes API test server (dev, staging, prod-eu, prod-us).

A new tag reaches dev first, staging only once dev is healthy and the soak has passed,
and prod only after an approval through the HTTP API, one cluster at a time; a release
that fails in staging is rolled back there and never reaches prod; a closed window keeps
prod waiting and says when it opens. What the clusters run is sampled from the clusters
themselves; the gates are read from ``syncer status -o json`` and ``GET /api/v1/apps/web``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from syncer import controller
from tests.binaries import REPO_ROOT
from tests.e2e.conftest import (
    API_TOKEN,
    EXAMPLE_REGISTRY,
    WEBHOOK_TOKEN,
    example_files,
    free_port,
    notifying_registry,
    wait_until,
)
from tests.servers import images
from tests.servers.syncer_run import serve

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXAMPLE = REPO_ROOT / "examples" / "multi-cluster-promotion"
NAMES = ["dev", "staging", "prod-eu", "prod-us"]
SOAK = 2.0
ALWAYS_OPEN = {"cron": "* * * * *", "duration": "1h"}


class Sampler:
    """Watches the four clusters from the side: when each first ran an image, and was ready.

    A thread reads the Deployment of every cluster every 20 ms, so the order in which
    the clusters took a release is measured on the clusters, not taken from syncer.
    """

    def __init__(self, env: PromotionEnv) -> None:
        self.env = env
        self.seen: dict[tuple[str, str], float] = {}
        """(cluster, image) -> first time the Deployment asked for that image."""
        self.ready: dict[tuple[str, str], float] = {}
        """(cluster, image) -> first time the Deployment was ready on that image."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for name in NAMES:
                image = self.env.image(name)
                if image:
                    self.seen.setdefault((name, image), now)
                    if self.env.ready(name):
                        self.ready.setdefault((name, image), now)
            time.sleep(0.02)


class PromotionEnv:
    """The servers, the example config pointed at them, and ways to look and act."""

    def __init__(self, *, tmp: Path, git: Any, registry: Any, clusters: list[Any]) -> None:
        self.tmp = tmp
        self.git = git
        self.registry = registry
        self.clusters = {c.name: c for c in clusters}
        self.port = 0
        self.webhook_port = 0
        self.repo: Any = None
        self.config_path = tmp / "syncer.yaml"
        self.env = {
            "GIT_USER": git.auth[0],
            "GIT_TOKEN": git.auth[1],
            "REGISTRY_USER": registry.username,
            "REGISTRY_PASSWORD": registry.password,
            "SYNCER_API_TOKEN": API_TOKEN,
            "REGISTRY_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        }

    def example_files(self) -> dict[str, str]:
        return example_files(EXAMPLE, registry_host=self.registry.host)

    def push(self, tag: str) -> str:
        """Push ``team/web:TAG``; the reference syncer pins it to."""
        pushed = images.push_image(self.registry, "team/web", tags=[tag])
        return f"{self.registry.host}/team/web:{tag}@{pushed.digest}"

    # --- config --------------------------------------------------------------------------
    def write_config(self, *, window: dict[str, str] | None = ALWAYS_OPEN) -> Path:
        """The example with this test's addresses, a 2s soak and the given prod window.

        Poll intervals stay the example's (30s): what moves a release within a test is
        the registry's webhook, the soak timer, the approval and a stage turning healthy.
        """
        data = yaml.safe_load((EXAMPLE / "syncer.yaml").read_text())
        data["sources"][0]["git"]["url"] = self.repo.url
        data["registries"][0]["host"] = self.registry.host
        kubeconfig = next(iter(self.clusters.values())).kubeconfig
        for cluster in data["clusters"]:
            cluster.update(kubeconfig=str(kubeconfig), context=cluster["name"])
        (app,) = data["apps"]
        for image in app["images"]:
            image["repository"] = image["repository"].replace(EXAMPLE_REGISTRY, self.registry.host)
        app["sync"].update(wait="3s", driftInterval="1h")
        app["gateway"]["allowedRegistries"] = [self.registry.host]
        stages = {s["name"]: s for s in data["pipelines"][0]["stages"]}
        stages["staging"]["soak"] = f"{SOAK:g}s"
        if window is None:
            del stages["prod"]["window"]
        else:
            stages["prod"]["window"] = window
        data["server"]["listen"] = f"127.0.0.1:{self.port}"
        data["server"]["webhookListen"] = f"127.0.0.1:{self.webhook_port}"
        data["state"]["path"] = str(self.tmp / "state" / "syncer-state.db")
        self.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.config_path

    @contextlib.contextmanager
    def running(self, **config: Any) -> Iterator[controller.Controller]:
        """The controller and its HTTP server in this process, stopped on exit."""
        with serve(self.write_config(**config)) as ctl:
            yield ctl

    # --- the API and the CLI -----------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, *, token: str = API_TOKEN) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        return requests.request(method, url, json=body, headers=headers, timeout=10)

    def app(self) -> dict[str, Any]:
        answer = self.api("GET", "apps/web")
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    def cli_status(self) -> dict[str, Any]:
        """``syncer status -c FILE -o json``, the web app's entry."""
        done = subprocess.run(
            [sys.executable, "-m", "syncer", "status", "-c", str(self.config_path), "-o", "json"],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        (app,) = json.loads(done.stdout)
        assert isinstance(app, dict)
        return app

    # --- the clusters --------------------------------------------------------------------
    def image(self, name: str) -> str:
        obj = self.clusters[name].get("apps/v1", "Deployment", "web", namespace="web")
        return str(obj["spec"]["template"]["spec"]["containers"][0]["image"]) if obj else ""

    def ready(self, name: str) -> bool:
        obj = self.clusters[name].get("apps/v1", "Deployment", "web", namespace="web")
        if obj is None:
            return False
        status, replicas = obj.get("status") or {}, obj["spec"].get("replicas", 1)
        return bool(
            status.get("observedGeneration") == obj["metadata"]["generation"]
            and status.get("updatedReplicas") == replicas
            and status.get("availableReplicas") == replicas
        )

    def runs(self, name: str, ref: str) -> bool:
        return self.image(name) == ref and self.ready(name)


def stage(status: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in status["stages"] if s["name"] == name)
    return found


def gate(status: dict[str, Any], stage_name: str, gate_name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        g for g in stage(status, stage_name)["gates"] if g["gate"] == gate_name
    )
    return found


def approve(env: PromotionEnv) -> dict[str, Any]:
    answer = env.api("POST", "apps/web/approve", {"stage": "prod"})
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def prod_waits_for(env: PromotionEnv, gates: list[str]) -> dict[str, Any] | None:
    """The app's status once prod waits for exactly ``gates`` (after passed)."""
    status = env.app()
    if not status["stages"]:
        return None
    waiting = [g["gate"] for g in stage(status, "prod")["gates"] if g["state"] != "passed"]
    return status if waiting == gates else None


@pytest.fixture
def promo_env(
    tmp_path: Path,
    git_http_factory: Any,
    registry_server: Any,
    kube_clusters: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> PromotionEnv:
    webhook_port = free_port()
    registry = notifying_registry(registry_server, port=webhook_port)
    git = git_http_factory(auth=("deployer", "git-s3cret"))
    clusters = kube_clusters(names=NAMES, workload_delay=0.05)
    env = PromotionEnv(tmp=tmp_path, git=git, registry=registry, clusters=clusters)
    env.port = free_port()
    env.webhook_port = webhook_port
    env.repo = git.create_repo("team/deploy", env.example_files())
    for name, value in env.env.items():
        monkeypatch.setenv(name, value)
    return env


def promote_to_staging(
    env: PromotionEnv, sampler: Sampler, ref: str, *, gates: tuple[str, ...] = ("approval",)
) -> dict[str, Any]:
    """Wait for ``ref`` in dev then staging, and for prod to wait for ``gates``; the status."""
    wait_until(lambda: env.runs("staging", ref), timeout=20, what="release healthy in staging")
    status = wait_until(lambda: prod_waits_for(env, list(gates)), what=f"prod waiting for {gates}")
    # dev was ready on the release before staging was even asked to run it, and staging
    # started no earlier than the soak after that.
    assert staging_gap(sampler, ref) >= SOAK - 0.1, sampler.seen
    return status


def staging_gap(sampler: Sampler, ref: str) -> float:
    """Seconds from dev ready on ``ref`` to staging asked to run it."""
    return sampler.seen[("staging", ref)] - sampler.ready[("dev", ref)]


def test_release_moves_dev_staging_then_prod_one_cluster_at_a_time(
    promo_env: PromotionEnv,
) -> None:
    env = promo_env
    ref = env.push("1.0.0")
    with env.running(), Sampler(env) as sampler:
        wait_until(lambda: env.runs("dev", ref), timeout=20, what="release healthy in dev")
        # dev is healthy; staging soaks and has nothing yet.
        soaking = wait_until(
            lambda: (s := env.app())["stages"] and gate(s, "staging", "soak")["until"] and s,
            what="soak started",
        )
        assert env.image("staging") == ""
        assert stage(soaking, "dev")["phase"] == "done", soaking["stages"]
        assert stage(soaking, "staging")["phase"] == "waiting", soaking["stages"]
        assert gate(soaking, "staging", "after")["state"] == "passed"
        assert gate(soaking, "staging", "soak")["message"].startswith(
            "stage staging: soaking in dev, "
        ), soaking["waiting"]
        assert "stage prod: waiting for release" in soaking["waiting"][-1], soaking["waiting"]
        status = promote_to_staging(env, sampler, ref)

        # prod waits for approval: said by the API and by `syncer status -o json`.
        release = status["desiredRelease"]
        expected = (
            f"stage prod: waiting for approval of release {release[:12]} "
            '(POST /api/v1/apps/web/approve {"stage": "prod"})'
        )
        assert status["waiting"] == [expected], status["waiting"]
        assert gate(status, "prod", "approval")["state"] == "waiting"
        assert gate(status, "prod", "after")["state"] == "passed"
        assert gate(status, "prod", "window")["state"] == "passed"
        cli = env.cli_status()
        assert cli["waiting"] == [expected], cli
        assert [s["phase"] for s in cli["stages"]] == ["done", "done", "waiting"], cli["stages"]
        time.sleep(1.0)  # polls go on; nothing reaches prod without the approval
        assert env.image("prod-eu") == env.image("prod-us") == ""

        # Without the token the approval is refused and nothing changes.
        refused = env.api("POST", "apps/web/approve", {"stage": "prod"}, token="")
        assert refused.status_code == 401, refused.text
        approved_at = time.monotonic()
        answer = approve(env)
        assert answer["release"] == release and answer["stage"] == "prod", answer

        wait_until(lambda: env.runs("prod-us", ref), timeout=20, what="release in prod-us")
        # One at a time, in the order of the top-level clusters list: prod-us was asked
        # to run the release only after prod-eu was ready on it.
        eu_ready = sampler.ready[("prod-eu", ref)]
        us_seen = sampler.seen[("prod-us", ref)]
        assert sampler.seen[("prod-eu", ref)] < eu_ready <= us_seen, sampler.seen
        order = sorted(NAMES, key=lambda n: sampler.seen[(n, ref)])
        assert order == NAMES, order
        print(
            f"dev ready -> staging asked {staging_gap(sampler, ref):.2f}s (soak {SOAK:g}s); "
            f"approval -> prod-eu asked {sampler.seen[('prod-eu', ref)] - approved_at:.2f}s; "
            f"prod-eu ready -> prod-us asked {us_seen - eu_ready:.2f}s"
        )

        done = wait_until(
            lambda: (s := env.app())["status"] == "Healthy" and s["waiting"] == [] and s,
            what="app healthy everywhere",
        )
        assert {c["cluster"]: c["release"] for c in done["clusters"]} == dict.fromkeys(
            NAMES, release
        )
        events = list(reversed(env.api("GET", "apps/web/history?limit=200").json()["history"]))
        rollouts = [e["message"] for e in events if e["kind"] == "rollout"]
        short = release[:12]
        assert rollouts == [
            f"rollout of {short} to dev (new-release)",
            f"rollout of {short} to staging (promotion)",
            f"rollout of {short} to prod-eu (promotion)",
            f"rollout of {short} to prod-us (promotion)",
        ], rollouts
        # The approval is recorded before anything went to prod.
        messages = [e["message"] for e in events]
        assert messages.index("promotion into prod approved by api") < messages.index(
            rollouts[2]
        ), messages


def test_failure_in_staging_stops_promotion_and_rolls_back(promo_env: PromotionEnv) -> None:
    env = promo_env
    good = env.push("1.0.0")
    env.clusters["staging"].fail_image("team/web:1.1.0")
    with env.running(window=None), Sampler(env) as sampler:
        promote_to_staging(env, sampler, good)
        approve(env)
        wait_until(lambda: env.runs("prod-us", good), timeout=20, what="1.0.0 in prod")

        bad = env.push("1.1.0")
        wait_until(lambda: env.runs("dev", bad), timeout=20, what="1.1.0 healthy in dev")
        wait_until(
            lambda: ("staging", bad) in sampler.seen, timeout=20, what="1.1.0 sent to staging"
        )

        def rolled_back() -> bool:
            events = env.api("GET", "apps/web/history?limit=200").json()["history"]
            return ("rollback", "staging") in [(e["kind"], e["cluster"]) for e in events]

        wait_until(rolled_back, timeout=20, what="staging rolled back")
        wait_until(lambda: env.runs("staging", good), what="staging back on 1.0.0")
        # The release is rejected for the app: prod is never offered it.
        status = wait_until(
            lambda: (
                (s := env.app())["message"].startswith(
                    f"release {s['desiredRelease'][:12]} not rolled out: unhealthy on staging: "
                )
                and s
            ),
            what="the next reconcile to leave the rejected release out",
        )
        bad_release = status["desiredRelease"]
        assert status["rejected"][bad_release].startswith("unhealthy on staging: "), status
        assert status["waiting"] == [], status["waiting"]
        time.sleep(2.5)  # polls and soak times pass; prod keeps 1.0.0
        for name in ("prod-eu", "prod-us"):
            assert env.runs(name, good), (name, env.image(name))
            assert (name, bad) not in sampler.seen
        assert env.runs("dev", bad)
        # Nobody can approve 1.1.0 into prod: it is not waiting there.
        refused = env.api("POST", "apps/web/approve", {"stage": "prod"})
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"].startswith(
            "app 'web' has no promotion waiting for approval into stage 'prod': "
            f"release {bad_release[:12]} was rejected: unhealthy on staging: "
        ), refused.json()
        cli = env.cli_status()
        assert cli["message"] == status["message"], cli
        assert {c["cluster"]: c["release"] for c in cli["clusters"]}["prod-eu"] != bad_release
        history = env.api("GET", "apps/web/history?limit=200").json()["history"]
        unhealthy = [e for e in history if e["kind"] == "unhealthy"]
        assert [e["cluster"] for e in unhealthy] == ["staging"], unhealthy
        assert "ProgressDeadlineExceeded" in unhealthy[0]["message"], unhealthy


def test_closed_window_keeps_prod_waiting_and_says_when_it_opens(
    promo_env: PromotionEnv,
) -> None:
    env = promo_env
    now = dt.datetime.now(dt.UTC)
    opens = (now + dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    window = {"cron": f"0 {opens.hour} * * *", "duration": "30m"}
    ref = env.push("1.0.0")
    with env.running(window=window), Sampler(env) as sampler:
        promote_to_staging(env, sampler, ref, gates=("approval", "window"))
        approve(env)
        expected = (
            f'stage prod: outside window "{window["cron"]}" (next opens {opens:%Y-%m-%d %H:%M} UTC)'
        )
        status = wait_until(
            lambda: (s := env.app())["waiting"] == [expected] and s, what="only the window waits"
        )
        assert gate(status, "prod", "approval")["state"] == "passed"
        assert gate(status, "prod", "window")["until"] == opens.isoformat().replace("+00:00", "Z")
        time.sleep(1.5)
        assert env.image("prod-eu") == env.image("prod-us") == ""
        cli = env.cli_status()
        assert cli["waiting"] == [expected], cli
    # The window opens (here: the config changes and syncer restarts): the approval given
    # before is kept in the state file, and prod takes the release without another.
    with env.running(window=ALWAYS_OPEN):
        wait_until(lambda: env.runs("prod-us", ref), timeout=20, what="prod after the window")
        assert env.runs("prod-eu", ref)
        events = env.api("GET", "apps/web/history?limit=200").json()["history"]
        assert [e["kind"] for e in events].count("approved") == 1, events


def test_failure_in_prod_eu_stops_the_stage_before_prod_us(promo_env: PromotionEnv) -> None:
    env = promo_env
    ref = env.push("1.0.0")
    env.clusters["prod-eu"].fail_image("team/web:1.0.0")
    with env.running(window=None), Sampler(env) as sampler:
        promote_to_staging(env, sampler, ref)
        approve(env)
        # Nothing healthy to roll back to in prod-eu: it stays unhealthy, and the stage
        # stops there.
        status = wait_until(
            lambda: (s := env.app())["stages"] and stage(s, "prod")["phase"] == "failed" and s,
            timeout=20,
            what="prod-eu unhealthy",
        )
        short = status["desiredRelease"][:12]
        assert status["waiting"] == [
            f"stage prod: blocked: release {short} unhealthy in cluster prod-eu; "
            "the rest of the stage waits"
        ], status["waiting"]
        time.sleep(2.0)  # polls go on; prod-us is not touched
        assert ("prod-eu", ref) in sampler.seen
        assert env.image("prod-us") == ""
        assert [e["cluster"] for e in env.app()["clusters"]] == ["dev", "prod-eu", "staging"]


def test_example_config_validates() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "syncer", "validate", "-c", str(EXAMPLE / "syncer.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(
        "syncer.yaml: valid: 1 source, 1 registry, 4 clusters, 1 app, 1 pipeline"
    ), done.stdout
