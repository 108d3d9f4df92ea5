"""An image a rollback found bad is held back: later commits go out with the last good
image of that repository (manifest changes land) until the policy picks another image;
a commit that itself breaks health is still rolled back."""

from __future__ import annotations

from typing import Any

import pytest

from syncer.notify import catalog
from tests.e2e.conftest import PushEnv, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def greeting(cluster: Any) -> str:
    cm = cluster.get("v1", "ConfigMap", "web-config", namespace="web")
    return str((cm or {}).get("data", {}).get("GREETING", ""))


def test_bad_image_is_held_back_and_commits_still_land(push_env: PushEnv) -> None:
    env = push_env
    host = env.registry.host
    good = env.push("team/web", "1.0.0")
    env.push("team/worker", "latest")
    for cluster in env.clusters:
        cluster.fail_image("team/web:1.1.0")
    with env.running(wait="3s") as ctl:
        good_ref = f"{host}/team/web:1.0.0@{good.digest}"
        wait_until(lambda: env.runs("web", good_ref), what="web 1.0.0 healthy")
        bad = env.push("team/web", "1.1.0")

        def rollbacks() -> int:
            return len([e for e in ctl.history("web", 500) if e["kind"] == "rollback"])

        wait_until(lambda: rollbacks() >= 2, timeout=30, what="1.1.0 rolled back on both")
        wait_until(lambda: env.runs("web", good_ref), what="web back on 1.0.0")
        unhealthy = len([e for e in ctl.history("web", 500) if e["kind"] == "unhealthy"])

        # A manifest commit: goes out with 1.0.0, not with the bad 1.1.0 again.
        files: dict[str, str | None] = dict(env.example_files())
        cm = "deploy/apps/web/configmap.yaml"
        files[cm] = str(files[cm]).replace("GREETING: hello", "GREETING: bonjour")
        commit = env.commit(files)
        wait_until(lambda: all(greeting(c) == "bonjour" for c in env.clusters), what="commit")
        assert env.runs("web", good_ref)
        (landed,) = [r for r in ctl.releases("web") if r["commit"] == commit]
        assert landed["images"][0]["digest"] == good.digest

        def landed_healthy() -> bool:
            (rel,) = [r for r in ctl.releases("web") if r["commit"] == commit]
            return {t["state"] for t in rel["targets"]} == {"healthy"}

        wait_until(landed_healthy, what="the commit's release healthy on both clusters")
        assert len([e for e in ctl.history("web", 500) if e["kind"] == "unhealthy"]) == unhealthy
        status = ctl.app_status("web")
        assert status is not None
        held = [e["message"] for e in status["errors"]]
        assert any("held back image" in m and bad.digest in m and "1.0.0" in m for m in held), (
            status
        )
        assert status["status"] == "Degraded"
        # Asked again (a manual sync): the same warning is not repeated in history.
        ctl.sync_now("web")
        assert ctl.wait_idle(20)
        assert sum("held back image" in e["message"] for e in ctl.history("web", 500)) == 1
        # That entry is the image-held-back notification event.
        (entry,) = [e for e in ctl.history("web", 500) if "held back image" in e["message"]]
        assert catalog.classify(entry["kind"], entry["data"]) == catalog.IMAGE_HELD_BACK

        # The policy picks another image: it goes out, and the warning clears.
        newer = env.push("team/web", "1.2.0")
        newer_ref = f"{host}/team/web:1.2.0@{newer.digest}"
        wait_until(lambda: env.runs("web", newer_ref), timeout=30, what="web 1.2.0")
        wait_until(lambda: ctl.app_status("web")["status"] == "Healthy", what="healthy")  # type: ignore[index]

        # A commit that itself breaks health (a new Deployment that never starts) is
        # rolled back as before and holds back nothing: the next commit goes out with 1.2.0.
        for cluster in env.clusters:
            cluster.fail_image("sidecar:broken")
        broken = dict(files)
        broken["deploy/apps/web/extra.yaml"] = (
            str(files["deploy/apps/web/deployment.yaml"])
            .replace("name: web\n", "name: extra\n")
            .replace("{app.kubernetes.io/name: web}", "{app.kubernetes.io/name: extra}")
            .replace("- name: extra\n", "- name: web\n")
            .replace(f"{host}/team/web:1.0.0", f"{host}/team/sidecar:broken")
        )
        env.commit(broken)
        wait_until(lambda: rollbacks() >= 4, timeout=30, what="broken commit rolled back")
        wait_until(lambda: env.runs("web", newer_ref), what="web back on 1.2.0")
        files[cm] = str(files[cm]).replace("GREETING: bonjour", "GREETING: hola")
        env.commit(files)
        wait_until(lambda: all(greeting(c) == "hola" for c in env.clusters), what="the fix")
        assert env.runs("web", newer_ref)
