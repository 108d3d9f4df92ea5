"""A registry outage keeps the images the apps run and lets Git changes through."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PushEnv, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def greeting(cluster: object) -> str:
    cm = cluster.get("v1", "ConfigMap", "web-config", namespace="web")  # type: ignore[attr-defined]
    return str((cm or {}).get("data", {}).get("GREETING", ""))


def test_git_changes_roll_out_while_the_registry_is_down(push_env: PushEnv) -> None:
    env = push_env
    host = env.registry.host
    web = env.push("team/web", "1.0.0")
    env.push("team/worker", "latest")
    pinned = f"{host}/team/web:1.0.0@{web.digest}"
    with env.running() as ctl:
        wait_until(lambda: env.runs("web", pinned), what="web 1.0.0 on both clusters")

        env.registry.down()
        edited = env.example_files()["deploy/apps/web/configmap.yaml"].replace(
            "GREETING: hello", "GREETING: still-deploying"
        )
        env.commit({"deploy/apps/web/configmap.yaml": edited})
        wait_until(
            lambda: all(greeting(c) == "still-deploying" for c in env.clusters),
            timeout=30,
            what="the Git change applied while the registry is down",
        )
        # The image stays pinned to the digest the registry last gave.
        assert env.runs("web", pinned)
        wait_until(
            lambda: (ctl.app_status("web") or {}).get("status") == "Degraded",
            what="the outage shown in the app's status",
        )
        warnings = [e["message"] for e in ctl.history("web", 50) if e["kind"] == "error"]
        assert any(
            f"cannot reach registry {host}" in m and f"keeping {pinned}" in m for m in warnings
        ), warnings

        # The registry is back: the next poll clears the warning.
        env.registry.up()
        wait_until(
            lambda: (ctl.app_status("web") or {}).get("status") == "Healthy",
            timeout=30,
            what="the warning cleared once the registry answers",
        )
