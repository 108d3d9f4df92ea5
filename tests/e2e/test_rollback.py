"""Done-when 3: a failing image turns unhealthy and is rolled back to the last healthy
release, with the rollback in history; the bad release is not tried again."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import PushEnv, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_failing_image_rolls_back(push_env: PushEnv) -> None:
    env = push_env
    host = env.registry.host
    good = env.push("team/web", "1.0.0")
    env.push("team/worker", "latest")
    for cluster in env.clusters:
        cluster.fail_image("team/web:1.1.0")
    # The wait outlasts the Deployments' 2 s progress deadline with room to spare, so
    # the controller-manager's verdict (ProgressDeadlineExceeded) is what ends it, even
    # on a loaded machine; a healthy rollout ends as soon as it is healthy.
    with env.running(wait="8s") as ctl:
        good_ref = f"{host}/team/web:1.0.0@{good.digest}"
        wait_until(lambda: env.runs("web", good_ref), what="web 1.0.0 healthy")
        env.push("team/web", "1.1.0")

        def rolled_back() -> bool:
            kinds = [(e["kind"], e["cluster"]) for e in ctl.history("web", 200)]
            return ("rollback", "staging") in kinds and ("rollback", "prod") in kinds

        wait_until(rolled_back, timeout=30, what="rollback recorded for both clusters")
        wait_until(lambda: env.runs("web", good_ref), what="web back on 1.0.0")
        history = ctl.history("web", 200)
        unhealthy = [e for e in history if e["kind"] == "unhealthy"]
        assert {e["cluster"] for e in unhealthy} == {"staging", "prod"}
        assert any("ProgressDeadlineExceeded" in e["message"] for e in unhealthy), unhealthy
        status = ctl.app_status("web")
        assert status is not None
        bad = [r for r in ctl.releases("web") if r["images"][0]["tag"] == "1.1.0"]
        assert len(bad) == 1 and bad[0]["id"] in status["rejected"]
        assert {t["state"] for t in bad[0]["targets"]} == {"rolled-back"}
        # The bad release is not rolled out again by later polls.
        time.sleep(2.5)
        assert env.runs("web", good_ref)
        assert len([e for e in ctl.history("web", 200) if e["kind"] == "unhealthy"]) == 2
