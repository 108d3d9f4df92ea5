"""Done-when 6: with one cluster down the other is updated; the down one catches up."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PushEnv, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_down_cluster_catches_up(push_env: PushEnv) -> None:
    env = push_env
    host = env.registry.host
    first = env.push("team/web", "1.0.0")
    env.push("team/worker", "latest")
    with env.running() as ctl:
        wait_until(
            lambda: env.runs("web", f"{host}/team/web:1.0.0@{first.digest}"),
            what="web 1.0.0 on both clusters",
        )
        # Every request to staging's API has its connection closed unanswered: down.
        # (stop() would be closer still, but idle keep-alive connections outlive it.)
        env.staging.set_fault("drop")
        newer = env.push("team/web", "1.1.0")
        ref = f"{host}/team/web:1.1.0@{newer.digest}"
        wait_until(
            lambda: env.image(env.prod, "web") == ref and env.ready(env.prod, "web"),
            what="prod on 1.1.0 while staging is down",
        )

        def staging_failing() -> bool:
            status = ctl.app_status("web") or {}
            return any(e["cluster"] == "staging" for e in status.get("errors", []))

        wait_until(staging_failing, what="staging's error in the app status")
        env.staging.clear_faults()
        wait_until(lambda: env.runs("web", ref), timeout=30, what="staging caught up")
        status = ctl.app_status("web")
        assert status is not None
        wait_until(lambda: (ctl.app_status("web") or {}).get("errors") == [], what="errors cleared")
        rollouts = [r for r in status["rollouts"] if r["release"] == status["desiredRelease"]]
        assert len(rollouts) == 1  # the same rollout finished, none started twice
