"""Done-when 2: a manifest commit is applied, and a deleted manifest is pruned."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PushEnv, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_commit_is_applied_and_deleted_manifest_pruned(push_env: PushEnv) -> None:
    env = push_env
    env.push("team/web", "1.0.0")
    env.push("team/worker", "latest")
    with env.running() as ctl:
        for cluster in env.clusters:
            wait_until(
                lambda c=cluster: c.get("v1", "Service", "web", namespace="web"),
                what=f"service web on {cluster.name}",
            )
        files = env.example_files()
        files["deploy/apps/web/configmap.yaml"] = files["deploy/apps/web/configmap.yaml"].replace(
            "GREETING: hello", "GREETING: bonjour"
        )
        files["deploy/apps/web/service.yaml"] = None  # type: ignore[assignment]
        commit = env.commit(files)

        def greeting(cluster: object) -> str:
            cm = cluster.get("v1", "ConfigMap", "web-config", namespace="web")  # type: ignore[attr-defined]
            return str((cm or {}).get("data", {}).get("GREETING", ""))

        for cluster in env.clusters:
            wait_until(
                lambda c=cluster: greeting(c) == "bonjour",
                what=f"new ConfigMap data on {cluster.name}",
            )
            wait_until(
                lambda c=cluster: c.get("v1", "Service", "web", namespace="web") is None,
                what=f"Service web pruned from {cluster.name}",
            )
        wait_until(
            lambda: any(r["commit"] == commit for r in ctl.releases("web")),
            what="a release of the new commit",
        )

        # The apply is recorded once the sync (its prune included) has returned: a moment
        # after the cluster shows it.
        def pruned_in_history() -> bool:
            applied = [e for e in ctl.history("web", 100) if e["kind"] == "applied"]
            return any("Service web/web" in p for e in applied for p in e["data"].get("pruned", []))

        wait_until(pruned_in_history, what="the pruned Service in the app's history")
