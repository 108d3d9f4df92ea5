"""Notifications of a rollout survive a kill -9 after any state write: the receivers get
every event, and a delivery is sent twice only when the kill fell between the
receiver's answer and its record (then with the same delivery id, for receivers to
drop). A kill between an event and its delivery sends it exactly once.

`syncer sync` sends what it caused before it exits (tests/crashpoints.py kills it after
its Nth state write); the second run sends what the first left in the state file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controller.test_cli_live import CONFIGMAP, DEPLOYMENT, write_config
from tests.e2e.test_crash_points import CRASHED, _copy_state, _restore_state, _syncer, _writes

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _with_notifications(config: Path, *, hook: Any, api: Any) -> None:
    data = yaml.safe_load(config.read_text())
    (config.parent / "hook-url").write_text(f"{hook.url}/hook")
    (config.parent / "hook-key").write_text("crash-test-key")
    (config.parent / "token").write_text("crash-test-token")
    hook_provider = {
        "name": "hook", "type": "webhook", "urlFrom": "file:hook-url",
        "secretFrom": "file:hook-key",
    }  # fmt: skip
    status_provider = {
        "name": "gh", "type": "github", "tokenFrom": "file:token", "address": api.url,
        "repository": "team/deploy",
    }  # fmt: skip
    data["notifications"] = {
        "providers": [hook_provider, status_provider],
        "rules": [{"providers": ["hook", "gh"]}],
    }
    config.write_text(yaml.safe_dump(data))


@pytest.mark.timeout(900)
def test_a_crash_after_any_state_write_loses_no_notification(
    tmp_path: Path, git_http: Any, kube_clusters: Any, receiver: Any
) -> None:
    (a,) = kube_clusters(1, names=["a"], workload_delay=0.02)
    repo = git_http.create_repo(
        "deploy", {"site/cm.yaml": CONFIGMAP % "one", "site/deploy.yaml": DEPLOYMENT % "web:1"}
    )
    hook, api = receiver(), receiver(api=True)
    config = write_config(tmp_path, url=repo.url, kubeconfig=a.kubeconfig, clusters=["a"])
    _with_notifications(config, hook=hook, api=api)
    empty = tmp_path / "empty-state"
    _copy_state(str(config), empty)
    points = _writes("sync", "-c", str(config))
    assert sorted(r.json()["event"] for r in hook.accepted()) == [
        "release-created", "rollout-healthy", "rollout-started",
    ]  # fmt: skip
    assert sorted(r.json()["state"] for r in api.accepted()) == ["pending", "success"]
    print(f"rollout with notifications: {points} crash points")
    for after in range(1, points + 1):
        a.reset(name=a.name, workload_delay=0.02)
        _restore_state(str(config), empty)
        hook.requests.clear()
        api.requests.clear()
        crashed = _syncer("sync", "-c", str(config), crash_after=after)
        assert crashed.returncode == CRASHED, (after, crashed.stdout, crashed.stderr)
        sent_before = len(hook.requests) + len(api.requests)
        again = _syncer("sync", "-c", str(config))
        assert again.returncode == 0, (after, again.stdout, again.stderr)
        events = Counter(r.json()["event"] for r in hook.accepted())
        states = Counter(r.json()["state"] for r in api.accepted())
        ids = Counter(r.delivery for r in [*hook.accepted(), *api.accepted()])
        assert len(ids) == 5, (after, ids)
        assert set(events) == {"release-created", "rollout-started", "rollout-healthy"}, after
        assert set(states) == {"pending", "success"}, after
        if sent_before == 0:
            # Killed between the events and their deliveries: each sent exactly once.
            assert set(ids.values()) == {1}, (after, events, states)
        else:
            # At most the delivery whose record the kill cut off is sent again: one per
            # receiver (each has one request in flight at a time, side by side).
            for server in (hook, api):
                sent = Counter(r.delivery for r in server.accepted())
                assert sum(n - 1 for n in sent.values()) <= 1, (after, ids)
