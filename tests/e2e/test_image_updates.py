"""Done-when 1: a tag in range reaches both clusters, one outside does not, and a
re-pushed ``:latest`` moves the pinned digest."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import PushEnv, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_semver_range_and_digest_tracking(push_env: PushEnv) -> None:
    env = push_env
    host = env.registry.host
    first = env.push("team/web", "1.0.0")
    worker = env.push("team/worker", "latest")
    with env.running() as ctl:
        wait_until(
            lambda: env.runs("web", f"{host}/team/web:1.0.0@{first.digest}"),
            what="web 1.0.0 on both clusters",
        )
        wait_until(
            lambda: env.runs("worker", f"{host}/team/worker:latest@{worker.digest}"),
            what="worker latest on both clusters",
        )

        # A new tag inside ^1.0: both clusters run it, pinned by digest.
        newer = env.push("team/web", "1.1.0")
        wait_until(
            lambda: env.runs("web", f"{host}/team/web:1.1.0@{newer.digest}"),
            what="web 1.1.0 on both clusters",
        )

        # 2.0.0 is outside ^1.0: several poll intervals later nothing has changed.
        releases_before = len(ctl.releases("web"))
        env.push("team/web", "2.0.0")
        time.sleep(3)
        assert env.runs("web", f"{host}/team/web:1.1.0@{newer.digest}")
        assert len(ctl.releases("web")) == releases_before
        assert not any("2.0.0" in i["tag"] for r in ctl.releases("web") for i in r["images"])

        # Re-pushing :latest gives it a new digest: the worker's pin follows.
        again = env.push("team/worker", "latest")
        assert again.digest != worker.digest
        wait_until(
            lambda: env.runs("worker", f"{host}/team/worker:latest@{again.digest}"),
            what="worker's new latest digest on both clusters",
        )

        status = ctl.app_status("web")
        assert status is not None and status["status"] == "Healthy", status
        kinds = [e["kind"] for e in ctl.history("web", 100)]
        assert kinds.count("release") == 2  # 1.0.0 and 1.1.0, never 2.0.0
