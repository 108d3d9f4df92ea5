"""A Git source or registry failing for longer than ``unreachableAfter`` is notified
once per outage, across restarts; held-back images and cluster errors are no outage."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.notify.conftest import process

pytestmark = pytest.mark.integration

HOOK = """
notifications:
  unreachableAfter: 10m
  providers:
    - {name: hook, type: webhook, urlFrom: file:hook-url, secretFrom: file:hook-key}
  rules:
    - {providers: [hook], events: [unreachable]}
"""


def test_an_outage_longer_than_the_threshold_is_told_once(tmp_path: Path, receiver: Any) -> None:
    hook = receiver()
    proc = process(tmp_path, HOOK, **{"hook-url": f"{hook.url}/h", "hook-key": "k" * 16})
    try:
        proc.store.set_error(
            app="web",
            stage="source",
            message="git ls-remote: connection refused; keeping commit abc",
        )
        proc.store.set_error(app="api", stage="images", message="held back image x:1: unhealthy")
        proc.store.set_error(app="api", cluster="dev", stage="cluster", message="cannot reach dev")
        assert proc.worker.check_outages() == 0  # not failing for 10m yet
        later = time.time() + 601
        assert proc.worker.check_outages(now=later) == 1
        assert proc.worker.check_outages(now=later + 60) == 0  # the same outage
        proc = proc.restart()
        assert proc.worker.check_outages(now=later + 120) == 0  # also after a restart
        assert proc.worker.drain(timeout=30) == 0
        # The source recovers and fails again: a new outage, told again once it lasts.
        proc.store.clear_error(app="web")
        proc.store.set_error(app="web", stage="images", message="registry: 503")
        assert proc.worker.check_outages(now=time.time() + 599) == 0
        assert proc.worker.check_outages(now=time.time() + 601) == 1
        assert proc.worker.drain(timeout=30) == 0
        (entry, _) = [e for e in proc.store.history("web") if e.kind == "unreachable"]
    finally:
        proc.close()
    bodies = [r.json() for r in hook.accepted()]
    assert [(b["event"], b["app"], b["severity"]) for b in bodies] == [
        ("unreachable", "web", "error"), ("unreachable", "web", "error"),
    ]  # fmt: skip
    assert bodies[0]["message"].startswith("web: Git source failing for 10m")
    assert bodies[0]["message"].endswith("connection refused; keeping commit abc")
    assert bodies[1]["message"].startswith("web: registry failing for 10m")
    assert entry.data["input"] == "images"
